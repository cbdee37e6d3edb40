"""Building blocks shared by the generators and discriminators: explicit (reflection) padding, padded convolutions,
and the CycleGAN residual block. All layers come from MONAI's ``Convolution`` block (Conv/Norm/Act factories)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from monai.networks.blocks import Convolution
from torch import nn

from medtranslate.networks.utils import NormSpec, conv_bias_for, norm_spec, per_axis, per_item, same_padding

__all__ = ["PaddingLayer", "PaddedConv", "ResidualBlock", "PADDING_MODES"]

#: padding modes accepted by the networks, mapped to ``torch.nn.functional.pad`` modes.
PADDING_MODES = {"reflect": "reflect", "replicate": "replicate", "zeros": "constant", "circular": "circular"}


class PaddingLayer(nn.Module):
    """Pad the spatial axes of a ``(N, C, *spatial)`` tensor, possibly by different amounts before and after.

    MONAI's Pad factory has only constant and replication padding (no reflection), hence this module on ``F.pad``.

    Args:
        spatial_dims: number of spatial axes.
        padding: one ``(before, after)`` pair per spatial axis.
        mode: ``"reflect"``, ``"replicate"``, ``"zeros"`` or ``"circular"``.

    Raises:
        ValueError: for an unknown mode or a padding of the wrong length.
    """

    def __init__(self, spatial_dims: int, padding: Sequence[tuple[int, int]], mode: str = "reflect") -> None:
        super().__init__()
        if mode not in PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {sorted(PADDING_MODES)}, got {mode!r}")
        if len(padding) != spatial_dims:
            raise ValueError(f"padding needs {spatial_dims} (before, after) pairs, got {padding!r}")
        self.mode = PADDING_MODES[mode]
        self.padding = tuple(tuple(int(p) for p in pair) for pair in padding)
        # F.pad lists the last axis first
        self._flat = tuple(p for pair in reversed(self.padding) for p in pair)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pad ``x``.

        Args:
            x: tensor of shape ``(N, C, *spatial)``.

        Returns:
            The padded tensor.
        """
        if not any(self._flat):
            return x
        return F.pad(x, self._flat, mode=self.mode)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, mode={self.mode!r}"


class PaddedConv(nn.Sequential):
    """Explicit "same" padding followed by a stride-1 MONAI ``Convolution`` (conv, then norm, dropout, activation).

    Even kernels are padded asymmetrically (one more after than before) so the output has the input's size.

    Args:
        spatial_dims: number of spatial axes.
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: int or one per axis.
        padding_mode: ``"reflect"``, ``"replicate"``, ``"zeros"`` or ``"circular"``.
        norm: MONAI norm name, ``(name, kwargs)`` or ``None``.
        act: MONAI activation name, ``(name, kwargs)`` or ``None``.
        dropout: dropout probability after the norm (0 for none).
        bias: conv bias; ``None`` picks it from ``norm`` as pix2pix/CycleGAN do.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        padding_mode: str = "reflect",
        norm: NormSpec = None,
        act: str | tuple | None = None,
        dropout: float = 0.0,
        bias: bool | None = None,
    ) -> None:
        kernel = per_axis(kernel_size, spatial_dims, "kernel_size")
        conv = Convolution(
            spatial_dims,
            in_channels,
            out_channels,
            strides=1,
            kernel_size=kernel,
            act=act,
            norm=norm_spec(norm),
            dropout=dropout or None,
            bias=conv_bias_for(norm) if bias is None else bias,
            padding=0,
            conv_only=norm_spec(norm) is None and act is None and not dropout,
        )
        super().__init__()
        self.add_module("pad", PaddingLayer(spatial_dims, same_padding(kernel), padding_mode))
        self.add_module("conv", conv)


class ResidualBlock(nn.Module):
    """CycleGAN residual block: ``x + [pad, conv, norm, ReLU, (dropout), pad, conv, norm](x)``.

    MONAI's ``ResidualUnit`` applies its activation after the addition and pads with zeros only, so it does not match
    the reference block; this one is built from two ``PaddedConv``.

    Args:
        spatial_dims: number of spatial axes.
        channels: input and output channels.
        kernel_size: int or per-axis for both convs, or a pair ``(first, second)`` of those (e.g.
            ``((2, 5, 5), (3, 3, 3))`` as in the OCT2Confocal 3D code).
        padding_mode: ``"reflect"``, ``"replicate"``, ``"zeros"`` or ``"circular"``.
        norm: MONAI norm name, ``(name, kwargs)`` or ``None``.
        act: activation after the first conv.
        dropout: dropout probability after the first activation (0 for none).
    """

    def __init__(
        self,
        spatial_dims: int,
        channels: int,
        kernel_size: int | Sequence[int] | Sequence[int | Sequence[int]] = 3,
        padding_mode: str = "reflect",
        norm: NormSpec = "instance",
        act: str | tuple | None = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        first, second = per_item(kernel_size, 2, spatial_dims, "res_kernel_size")
        self.body = nn.Sequential(
            PaddedConv(spatial_dims, channels, channels, first, padding_mode, norm=norm, act=act, dropout=dropout),
            PaddedConv(spatial_dims, channels, channels, second, padding_mode, norm=norm, act=None),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Add the residual branch to ``x``.

        Args:
            x: tensor of shape ``(N, channels, *spatial)``.

        Returns:
            A tensor of the same shape.
        """
        return x + self.body(x)
