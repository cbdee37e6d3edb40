"""PatchGAN discriminator (pix2pix / CycleGAN ``basic`` 70x70, and its 3D 70x70x9 form) and a WGAN-GP critic."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from monai.networks.blocks import Convolution
from torch import nn

from medtranslate.networks.utils import NormSpec, check_input, conv_bias_for, norm_spec, per_axis, per_item

__all__ = ["PatchDiscriminator", "WGANCritic", "PATCH_DISCRIMINATOR_PRESETS", "patch_discriminator_preset"]

_LEAKY = ("leakyrelu", {"negative_slope": 0.2})

#: keyword arguments of the published configurations (see docs/networks.md).
PATCH_DISCRIMINATOR_PRESETS: dict[str, dict[str, Any]] = {
    # junyanz netD=basic: 70x70 receptive field (seeds 002, 003, 004)
    "patchgan_70": {"spatial_dims": 2, "num_layers": 3},
    # seed 000: 3D PatchGAN judging 70x70x9 cubes; depth kernel 3, depth stride 1 -> receptive field 11x70x70
    "patchgan_70x70x9": {"spatial_dims": 3, "num_layers": 3, "kernel_size": (3, 4, 4), "strides": (1, 2, 2)},
}


class PatchDiscriminator(nn.Module):
    """PatchGAN discriminator (the reference ``NLayerDiscriminator``), one class for 2D and 3D; returns logits.

    Layout: conv(``channels``, stride s_0) + LeakyReLU(0.2); for ``n = 1 .. num_layers-1``: conv to
    ``channels * min(2**n, max_channel_multiplier)`` (stride s_n) + norm + LeakyReLU; a stride-1 conv to
    ``channels * min(2**num_layers, max_channel_multiplier)`` + norm + LeakyReLU; a stride-1 conv to 1 channel. Every
    conv uses ``kernel_size`` with zero padding ``(k - 1) // 2`` (1 for the reference's 4). No sigmoid: the output
    is a map of logits, for ``BCEWithLogits`` or least-squares losses.

    With ``spatial_dims=2`` and the defaults this is the 70x70 PatchGAN: 2,764,737 parameters for 3 input channels,
    2,762,689 for 1, receptive field 70x70. In 3D, ``kernel_size=(3, 4, 4)`` and ``strides=(1, 2, 2)`` give an
    11x70x70 receptive field, which covers the 70x70x9 cubes of seed 000 and keeps a 9-slice depth.

    MONAI's ``PatchDiscriminator`` drops the conv bias under instance norm (896 parameters fewer than the reference),
    has no channel cap nor per-layer/per-axis strides and returns a list of features, so it is not reused.

    Args:
        spatial_dims: 2 or 3.
        in_channels: input channels (for pix2pix: input + output channels, concatenated).
        channels: channels of the first conv (``ndf``).
        num_layers: number of strided convs (3 for the 70x70 PatchGAN).
        norm: MONAI norm name or ``(name, kwargs)``; ``"instance"`` (CycleGAN) or ``"batch"`` (pix2pix); ``None`` for
            none; ``"layer"`` means one-group GroupNorm.
        kernel_size: int or per axis, for every conv.
        strides: strides of the first ``num_layers`` convs (the last two are stride 1): an int, one per axis, or one
            entry per layer.
        max_channel_multiplier: channel cap as a multiple of ``channels`` (8 in the reference).

    Raises:
        ValueError: for a bad argument; ``forward`` raises it for an input too small to give one output element.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        channels: int = 64,
        num_layers: int = 3,
        norm: NormSpec = "instance",
        kernel_size: int | Sequence[int] = 4,
        strides: int | Sequence[int] | Sequence[int | Sequence[int]] = 2,
        max_channel_multiplier: int = 8,
    ) -> None:
        super().__init__()
        if num_layers < 1 or channels < 1 or max_channel_multiplier < 1:
            raise ValueError("num_layers, channels and max_channel_multiplier must be positive")
        self.spatial_dims = spatial_dims
        self.in_channels = in_channels
        kernel = per_axis(kernel_size, spatial_dims, "kernel_size")
        padding = tuple((k - 1) // 2 for k in kernel)
        layer_strides = per_item(strides, num_layers, spatial_dims, "strides") + ((1,) * spatial_dims,) * 2
        norm = norm_spec(norm)
        bias = conv_bias_for(norm)
        mult = [min(2**n, max_channel_multiplier) for n in range(num_layers + 1)]
        layers = []
        for n, st in enumerate(layer_strides):
            final = n == num_layers + 1
            layers.append(
                Convolution(
                    spatial_dims,
                    in_channels if n == 0 else channels * mult[n - 1],
                    1 if final else channels * mult[n],
                    strides=st,
                    kernel_size=kernel,
                    padding=padding,
                    norm=None if n == 0 or final else norm,
                    act=None if final else _LEAKY,
                    bias=True if n == 0 or final else bias,
                    conv_only=final,
                )
            )
        self.layers = nn.Sequential(*layers)
        self._geometry = [(kernel, st, padding) for st in layer_strides]
        #: receptive field of one output element, per axis (analytic; tests check it by back-propagation).
        self.receptive_field = self._receptive_field()
        #: smallest input size per axis that gives at least one output element.
        self.min_size = tuple(self._min_size(d) for d in range(spatial_dims))

    def _receptive_field(self) -> tuple[int, ...]:
        out = []
        for d in range(self.spatial_dims):
            r = 1
            for kernel, st, _ in reversed(self._geometry):
                r = r * st[d] + (kernel[d] - st[d])
            out.append(r)
        return tuple(out)

    def output_size(self, size: Sequence[int]) -> tuple[int, ...]:
        """Spatial size of the logits map for an input of spatial size ``size``.

        Args:
            size: input spatial size, one int per axis.

        Returns:
            Output spatial size per axis (0 or less means the input is too small).
        """
        out = []
        for d, n in enumerate(size):
            for kernel, st, pad in self._geometry:
                n = (n + 2 * pad[d] - kernel[d]) // st[d] + 1 if n > 0 else n
            out.append(n)
        return tuple(out)

    def _min_size(self, axis: int) -> int:
        n = 1
        while self.output_size((n,) * self.spatial_dims)[axis] < 1:
            n += 1
        return n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Score ``x`` patch by patch.

        Args:
            x: ``(N, in_channels, *spatial)``, each spatial size at least ``min_size``.

        Returns:
            Logits ``(N, 1, *output_size(spatial))``.

        Raises:
            ValueError: when the input's rank, channels or sizes do not fit.
        """
        check_input(x, self.spatial_dims, self.in_channels, (), self.min_size, type(self).__name__)
        return self.layers(x)


class WGANCritic(PatchDiscriminator):
    """WGAN-GP critic: a :class:`PatchDiscriminator` without batch normalisation, returning a map of critic scores.

    Gulrajani et al. (2017) note that batch norm breaks the per-sample gradient penalty (it couples the samples of a
    batch) and advise no normalisation or layer normalisation; the default here is layer norm (one-group GroupNorm,
    normalising channels and space per sample). The gradient penalty itself lives in ``medtranslate.losses``.

    Args:
        spatial_dims: 2 or 3.
        in_channels: input channels.
        channels: channels of the first conv.
        num_layers: number of strided convs.
        norm: ``"layer"`` (default), ``"instance"``, a group norm, or ``None``; batch norms are refused.
        kernel_size: int or per axis, for every conv.
        strides: strides of the first ``num_layers`` convs, as for :class:`PatchDiscriminator`.
        max_channel_multiplier: channel cap as a multiple of ``channels``.

    Raises:
        ValueError: for a batch norm or another bad argument.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        channels: int = 64,
        num_layers: int = 3,
        norm: NormSpec = "layer",
        kernel_size: int | Sequence[int] = 4,
        strides: int | Sequence[int] | Sequence[int | Sequence[int]] = 2,
        max_channel_multiplier: int = 8,
    ) -> None:
        spec = norm_spec(norm)
        name = spec if isinstance(spec, str) or spec is None else spec[0]
        if name is not None and "batch" in name.lower():
            raise ValueError(
                f"WGANCritic cannot use {name!r} norm: batch statistics break the per-sample gradient penalty; "
                "use 'layer', 'instance' or None"
            )
        super().__init__(
            spatial_dims, in_channels, channels, num_layers, spec, kernel_size, strides, max_channel_multiplier
        )


def patch_discriminator_preset(name: str, in_channels: int, **overrides: Any) -> PatchDiscriminator:
    """Build a :class:`PatchDiscriminator` with a published configuration.

    Args:
        name: ``"patchgan_70"`` (2D 70x70) or ``"patchgan_70x70x9"`` (3D, receptive field 11x70x70).
        in_channels: input channels.
        overrides: any other constructor argument, e.g. ``norm="batch"``.

    Returns:
        The discriminator.

    Raises:
        ValueError: for an unknown preset name.
    """
    if name not in PATCH_DISCRIMINATOR_PRESETS:
        choices = sorted(PATCH_DISCRIMINATOR_PRESETS)
        raise ValueError(f"unknown PatchDiscriminator preset {name!r}; choose one of {choices}")
    return PatchDiscriminator(in_channels=in_channels, **{**PATCH_DISCRIMINATOR_PRESETS[name], **overrides})
