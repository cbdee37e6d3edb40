"""EDSR super-resolution network (Lim et al. 2017), used by seed 004 to take fundus images from 512 to 1024 (x2)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from monai.networks.blocks import SubpixelUpsample
from monai.networks.layers.factories import Conv
from monai.networks.layers.utils import get_act_layer
from torch import nn

__all__ = ["EDSR", "EDSRResBlock"]


class EDSRResBlock(nn.Module):
    """EDSR residual block: conv, activation, conv, scaled and added to the input; no batch norm.

    Args:
        spatial_dims: number of spatial dimensions, 2 or 3.
        channels: feature channels (input = output).
        kernel_size: convolution kernel size (odd).
        res_scale: factor applied to the residual branch before the addition (EDSR: 1.0 baseline, 0.1 large).
        act: activation, a MONAI ``Act`` name or ``(name, kwargs)``.
    """

    def __init__(
        self, spatial_dims: int, channels: int, kernel_size: int = 3, res_scale: float = 1.0, act: tuple | str = "relu"
    ) -> None:
        super().__init__()
        conv = Conv[Conv.CONV, spatial_dims]
        self.body = nn.Sequential(
            conv(channels, channels, kernel_size, padding=kernel_size // 2),
            get_act_layer(act),
            conv(channels, channels, kernel_size, padding=kernel_size // 2),
        )
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block.

        Args:
            x: features, shape ``(B, channels, *spatial)``.

        Returns:
            ``x + res_scale * body(x)``.
        """
        return x + self.res_scale * self.body(x)


class EDSR(nn.Module):
    """Enhanced deep super-resolution network; one class for 2D and 3D.

    Head convolution, ``num_res_blocks`` residual blocks without batch norm followed by a convolution and a global
    skip connection, sub-pixel upsampling with MONAI's ``SubpixelUpsample`` (x4 and x8 as stacked x2 stages, x3 as one
    stage), then a tail convolution. The defaults are EDSR-baseline (64 channels, 16 blocks, ``res_scale`` 1.0); the
    large EDSR is ``channels=256, num_res_blocks=32, res_scale=0.1``. EDSR's RGB mean shift is left out: the project
    keeps images in [-1, 1], already centred.

    Args:
        spatial_dims: number of spatial dimensions, 2 or 3.
        in_channels: input image channels.
        out_channels: output image channels.
        channels: feature channels.
        num_res_blocks: number of residual blocks.
        scale: upsampling factor: 2, 3, 4 or 8 (seed 004 uses 2: 512 -> 1024).
        res_scale: residual scaling inside each block.
        kernel_size: convolution kernel size (odd).
        act: activation inside the residual blocks.
        apply_pad_pool: use MONAI's pad-and-average-pool after each pixel shuffle (Aitken et al.'s checkerboard fix);
            off by default to keep EDSR's plain sub-pixel convolution.
        interpolation_skip: add the input upsampled by this interpolation mode (``"bicubic"``; 3D uses
            ``"trilinear"`` for it) to the output, so the network learns only the residual over interpolation (global
            residual learning as in VDSR); ``None`` (default) is the plain EDSR. With few training steps the skip is
            what lets a small EDSR beat bicubic interpolation at once. With the skip the tail convolution starts at
            zero, so the untrained network returns exactly the interpolation.

    Raises:
        ValueError: on an unsupported ``scale`` or ``spatial_dims``.
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 3,
        out_channels: int = 3,
        channels: int = 64,
        num_res_blocks: int = 16,
        scale: int = 2,
        res_scale: float = 1.0,
        kernel_size: int = 3,
        act: tuple | str = "relu",
        apply_pad_pool: bool = False,
        interpolation_skip: str | None = None,
    ) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        if scale == 3:
            factors = [3]
        elif scale >= 2 and scale & (scale - 1) == 0 and scale <= 8:
            factors = [2] * int(math.log2(scale))
        else:
            raise ValueError(f"scale must be 2, 3, 4 or 8, got {scale}")
        self.scale = scale
        if interpolation_skip is not None and interpolation_skip not in ("bicubic", "bilinear", "trilinear", "nearest"):
            raise ValueError(
                f"interpolation_skip must be bicubic, bilinear, trilinear, nearest or None, got {interpolation_skip!r}"
            )
        if interpolation_skip in ("bicubic", "bilinear") and spatial_dims == 3:
            interpolation_skip = "trilinear"
        self.interpolation_skip = interpolation_skip
        conv = Conv[Conv.CONV, spatial_dims]
        pad = kernel_size // 2
        self.head = conv(in_channels, channels, kernel_size, padding=pad)
        self.body = nn.Sequential(
            *[EDSRResBlock(spatial_dims, channels, kernel_size, res_scale, act) for _ in range(num_res_blocks)],
            conv(channels, channels, kernel_size, padding=pad),
        )
        self.upsample = nn.Sequential(
            *[
                SubpixelUpsample(spatial_dims, channels, channels, scale_factor=f, apply_pad_pool=apply_pad_pool)
                for f in factors
            ]
        )
        self.tail = conv(channels, out_channels, kernel_size, padding=pad)
        if interpolation_skip is not None:  # start at the interpolation: the network learns only the residual
            nn.init.zeros_(self.tail.weight)
            nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Super-resolve ``x``.

        Args:
            x: low-resolution image, shape ``(B, in_channels, *spatial)``.

        Returns:
            The image upsampled by ``scale`` along every spatial axis, shape ``(B, out_channels, *spatial * scale)``.
        """
        h = self.head(x)
        h = h + self.body(h)
        out = self.tail(self.upsample(h))
        if self.interpolation_skip is None:
            return out
        kwargs = {} if self.interpolation_skip == "nearest" else {"align_corners": False}
        return out + F.interpolate(x, scale_factor=self.scale, mode=self.interpolation_skip, **kwargs).to(out.dtype)
