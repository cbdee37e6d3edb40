"""CycleGAN ResNet generator for 2D images and 3D volumes (``resnet_9blocks`` and the OCT2Confocal 3D variants)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from monai.networks.blocks import Convolution, UpSample
from monai.networks.layers.factories import Act
from torch import nn

from medtranslate.networks.blocks import PaddedConv, ResidualBlock
from medtranslate.networks.utils import (
    NormSpec,
    check_input,
    conv_bias_for,
    norm_spec,
    per_axis,
    per_item,
    same_padding,
)

__all__ = ["ResNetGenerator", "RESNET_GENERATOR_PRESETS", "UPSAMPLE_MODES", "resnet_generator_preset"]

#: upsampling layouts of :class:`ResNetGenerator`.
UPSAMPLE_MODES = ("transposed", "resize")

# seed 000's 3D ResNet-9 with the anisotropic kernels of the authors' code; the depth stride is 1 so a 9-slice stack
# keeps its 9 slices (9 is not divisible by 2).
_OCT2CONFOCAL_3D: dict[str, Any] = {
    "spatial_dims": 3,
    "num_res_blocks": 9,
    "strides": (1, 2, 2),
    "stem_kernel_size": (9, 7, 7),
    "res_kernel_size": ((2, 5, 5), (3, 3, 3)),
    "final_kernel_size": (8, 7, 7),
}

#: keyword arguments of the published configurations (see docs/networks.md).
RESNET_GENERATOR_PRESETS: dict[str, dict[str, Any]] = {
    # junyanz/pytorch-CycleGAN-and-pix2pix netG=resnet_9blocks / resnet_6blocks (2D, seeds 003 and 002)
    "resnet_9blocks": {"spatial_dims": 2, "num_downsamplings": 2, "num_res_blocks": 9},
    "resnet_6blocks": {"spatial_dims": 2, "num_downsamplings": 2, "num_res_blocks": 6},
    # seed 000 "3D CycleGAN-3" and "3D CycleGAN-2": 3 or 2 downsamplings
    "oct2confocal_cyclegan3": {**_OCT2CONFOCAL_3D, "num_downsamplings": 3},
    "oct2confocal_cyclegan2": {**_OCT2CONFOCAL_3D, "num_downsamplings": 2},
}


class ResNetGenerator(nn.Module):
    """ResNet generator of CycleGAN (Zhu et al. 2017; Johnson et al. 2016), one class for 2D and 3D.

    Layout, as in the reference ``ResnetGenerator``: padded ``stem_kernel_size`` conv to ``channels``, norm, ReLU;
    ``num_downsamplings`` 3-wide strided convs (zero padding 1) each doubling the channels, norm, ReLU;
    ``num_res_blocks`` residual blocks; as many 3-wide transposed convs (``output_padding = stride - 1``) halving the
    channels, norm, ReLU (or, with ``upsample="resize"``, nearest-neighbour resizing followed by a 3-wide conv: the
    remedy of Odena et al. 2016 for the checkerboard artefacts of transposed convs whose kernel does not divide by
    the stride; its weights are not interchangeable with the reference layout's); padded ``final_kernel_size`` conv to
    ``out_channels`` with bias, and tanh.
    Convs followed by a non-affine instance norm keep their bias, as in the reference (its parameter counts depend on
    it). Even kernels are padded one more after than before, so the output always has the input's size.

    With ``spatial_dims=2`` and the defaults this is ``resnet_9blocks``: 11,378,179 parameters for 3->3 channels,
    11,365,633 for 1->1 and 11,371,907 for 1->3.

    Args:
        spatial_dims: 2 or 3.
        in_channels: input channels.
        out_channels: output channels.
        channels: channels after the stem (``ngf``).
        num_downsamplings: number of strided convs (and of transposed convs).
        num_res_blocks: number of residual blocks at the lowest resolution.
        norm: MONAI norm name or ``(name, kwargs)``; ``"instance"`` is non-affine without running statistics as in the
            reference; ``"layer"`` means one-group GroupNorm; ``None`` for none.
        dropout: dropout probability inside each residual block (the reference's ``use_dropout`` is 0.5).
        strides: downsampling strides, each 1 or 2: an int, one per axis (``(1, 2, 2)`` keeps the depth), or one
            entry per downsampling (``[(1, 2, 2), (2, 2, 2), (1, 2, 2)]``).
        stem_kernel_size: first conv kernel, int or per axis (OCT2Confocal: ``(9, 7, 7)``).
        res_kernel_size: residual conv kernel, int or per axis, or a ``(first, second)`` pair of those
            (OCT2Confocal: ``((2, 5, 5), (3, 3, 3))``).
        final_kernel_size: last conv kernel, int or per axis (OCT2Confocal: ``(8, 7, 7)``).
        padding_mode: padding of the stem, residual and final convs: ``"reflect"`` (reference), ``"replicate"``,
            ``"zeros"`` or ``"circular"``.
        act: activation of the hidden layers.
        final_act: output activation; ``"tanh"`` gives images in [-1, 1], ``None`` leaves the output unbounded.
        upsample: ``"transposed"`` (reference: 3-wide transposed convs) or ``"resize"`` (nearest-neighbour resize
            by the stride, then a 3-wide conv; no checkerboard, used by the demo's small models).

    Raises:
        ValueError: for a bad argument. ``forward`` raises it when an input size is not divisible by the total
            downsampling factor of its axis, or is too small for the reflection padding.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        channels: int = 64,
        num_downsamplings: int = 2,
        num_res_blocks: int = 9,
        norm: NormSpec = "instance",
        dropout: float = 0.0,
        strides: int | Sequence[int] | Sequence[int | Sequence[int]] = 2,
        stem_kernel_size: int | Sequence[int] = 7,
        res_kernel_size: int | Sequence[int] | Sequence[int | Sequence[int]] = 3,
        final_kernel_size: int | Sequence[int] = 7,
        padding_mode: str = "reflect",
        act: str | tuple | None = "relu",
        final_act: str | tuple | None = "tanh",
        upsample: str = "transposed",
    ) -> None:
        super().__init__()
        if spatial_dims not in (1, 2, 3):
            raise ValueError(f"spatial_dims must be 1, 2 or 3, got {spatial_dims!r}")
        if num_downsamplings < 0 or num_res_blocks < 0 or channels < 1:
            raise ValueError("channels must be positive and num_downsamplings, num_res_blocks non-negative")
        if upsample not in UPSAMPLE_MODES:
            raise ValueError(f"upsample must be one of {UPSAMPLE_MODES}, got {upsample!r}")
        self.spatial_dims = spatial_dims
        self.upsample = upsample
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.strides = per_item(strides, num_downsamplings, spatial_dims, "strides") if num_downsamplings else ()
        if any(s not in (1, 2) for st in self.strides for s in st):
            raise ValueError(f"strides must be 1 or 2, got {strides!r}")
        stem_k = per_axis(stem_kernel_size, spatial_dims, "stem_kernel_size")
        res_k = per_item(res_kernel_size, 2, spatial_dims, "res_kernel_size")
        final_k = per_axis(final_kernel_size, spatial_dims, "final_kernel_size")
        norm = norm_spec(norm)
        bias = conv_bias_for(norm)
        #: total downsampling factor per axis: every input size must be a multiple of it.
        self.downsample_factor = tuple(math.prod(st[d] for st in self.strides) for d in range(spatial_dims))
        self.min_size = self._min_size(padding_mode, stem_k, res_k, final_k, num_res_blocks)

        self.stem = PaddedConv(spatial_dims, in_channels, channels, stem_k, padding_mode, norm=norm, act=act)
        down, ch = [], channels
        for st in self.strides:
            down.append(
                Convolution(
                    spatial_dims, ch, ch * 2, strides=st, kernel_size=3, padding=1, norm=norm, act=act, bias=bias
                )
            )
            ch *= 2
        self.down = nn.Sequential(*down)
        self.res_blocks = nn.Sequential(
            *[
                ResidualBlock(spatial_dims, ch, res_k, padding_mode, norm=norm, act=act, dropout=dropout)
                for _ in range(num_res_blocks)
            ]
        )
        up: list[nn.Module] = []
        for st in reversed(self.strides):
            if upsample == "resize":
                resize = UpSample(
                    spatial_dims,
                    scale_factor=st,
                    mode="nontrainable",
                    pre_conv=None,
                    interp_mode="nearest",
                    align_corners=None,
                )
                conv = Convolution(spatial_dims, ch, ch // 2, kernel_size=3, padding=1, norm=norm, act=act, bias=bias)
                up.append(nn.Sequential(resize, conv))
                ch //= 2
                continue
            up.append(
                Convolution(
                    spatial_dims,
                    ch,
                    ch // 2,
                    strides=st,
                    kernel_size=3,
                    padding=1,
                    output_padding=tuple(s - 1 for s in st),
                    is_transposed=True,
                    norm=norm,
                    act=act,
                    bias=bias,
                )
            )
            ch //= 2
        self.up = nn.Sequential(*up)
        self.head = PaddedConv(spatial_dims, ch, out_channels, final_k, padding_mode, norm=None, act=None, bias=True)
        self.final_act = nn.Identity() if final_act is None else _act_layer(final_act)

    def _min_size(self, padding_mode, stem_k, res_k, final_k, num_res_blocks) -> tuple[int, ...]:
        if padding_mode not in ("reflect", "circular"):
            return self.downsample_factor
        extra = 1 if padding_mode == "reflect" else 0  # reflect needs pad < size, circular pad <= size
        out = []
        for d, f in enumerate(self.downsample_factor):
            need = max(max(same_padding(stem_k)[d]), max(same_padding(final_k)[d])) + extra
            if num_res_blocks:
                need = max(need, f * (max(max(same_padding(k)[d]) for k in res_k) + extra))
            out.append(max(f, math.ceil(need / f) * f))
        return tuple(out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Translate ``x``.

        Args:
            x: ``(N, in_channels, *spatial)``, each spatial size a multiple of ``downsample_factor`` on its axis.

        Returns:
            ``(N, out_channels, *spatial)``, in [-1, 1] with the default tanh.

        Raises:
            ValueError: when the input's rank, channels or sizes do not fit (never a silent crop).
        """
        check_input(x, self.spatial_dims, self.in_channels, self.downsample_factor, self.min_size, "ResNetGenerator")
        x = self.stem(x)
        x = self.down(x)
        x = self.res_blocks(x)
        x = self.up(x)
        return self.final_act(self.head(x))


def _act_layer(act: str | tuple | list) -> nn.Module:
    """Build an activation from MONAI's Act factory (``"tanh"`` or ``("name", kwargs)``)."""
    if isinstance(act, str):
        return Act[act]()
    name, kwargs = act[0], dict(act[1]) if len(act) > 1 else {}
    return Act[name](**kwargs)


def resnet_generator_preset(name: str, in_channels: int, out_channels: int, **overrides: Any) -> ResNetGenerator:
    """Build a :class:`ResNetGenerator` with a published configuration.

    Args:
        name: a key of :data:`RESNET_GENERATOR_PRESETS`: ``"resnet_9blocks"``, ``"resnet_6blocks"``,
            ``"oct2confocal_cyclegan3"`` or ``"oct2confocal_cyclegan2"``.
        in_channels: input channels (OCT: 1).
        out_channels: output channels (confocal RGB: 3).
        overrides: any other constructor argument, e.g. ``channels=32``.

    Returns:
        The generator.

    Raises:
        ValueError: for an unknown preset name.
    """
    if name not in RESNET_GENERATOR_PRESETS:
        raise ValueError(f"unknown ResNetGenerator preset {name!r}; choose one of {sorted(RESNET_GENERATOR_PRESETS)}")
    kwargs = {**RESNET_GENERATOR_PRESETS[name], **overrides}
    return ResNetGenerator(in_channels=in_channels, out_channels=out_channels, **kwargs)
