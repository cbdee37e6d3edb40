"""pix2pix U-Net generator (``unet_256`` / ``unet_128``) for 2D images and 3D volumes."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from monai.networks.blocks import Convolution
from monai.networks.layers.factories import Act
from torch import nn

from medtranslate.networks.utils import NormSpec, check_input, conv_bias_for, norm_spec, per_item

__all__ = ["UNetGenerator"]

_LEAKY = ("leakyrelu", {"negative_slope": 0.2})


class UNetGenerator(nn.Module):
    """U-Net generator of pix2pix (Isola et al. 2017), one class for 2D and 3D.

    Encoder level ``i`` (``i = 0 .. num_downs-1``): LeakyReLU(0.2) (not on level 0), a 4-wide stride-2 conv (padding
    1) to ``channels * min(2**i, 8)``, and a norm (not on level 0 nor on the innermost level). Decoder level ``i``:
    ReLU, a 4-wide stride-2 transposed conv on the concatenation ``[skip_i, up_{i+1}]`` (the innermost level takes its
    own encoding alone), a norm and, on the 8x-channel levels between level 4 and the innermost, dropout; level 0
    ends with a biased transposed conv to ``out_channels`` and tanh. Conv bias follows the reference (off under batch
    norm, on under non-affine instance norm), so with ``spatial_dims=2``, ``num_downs=8`` and the defaults this is
    pix2pix ``unet_256``: 54,413,955 parameters for 3->3 channels (``num_downs=7``: ``unet_128``, 41,828,995).

    MONAI's ``UNet``/``BasicUNet`` use residual units / double convs and no 8x channel cap, so they cannot reproduce
    this network; it is written here with MONAI's ``Convolution`` block.

    Args:
        spatial_dims: 2 or 3.
        in_channels: input channels.
        out_channels: output channels.
        channels: channels of the first level (``ngf``).
        num_downs: number of levels; each input size must be divisible by the product of its strides
            (``2**num_downs`` with the default strides: 256 for ``unet_256``).
        norm: MONAI norm name or ``(name, kwargs)``; ``"batch"`` as pix2pix; ``None`` for none.
        dropout: dropout probability on the middle 8x-channel decoder levels (pix2pix: 0.5; 0 for none).
        strides: per level and axis, 1 or 2: an int, one per axis (``(1, 2, 2)`` keeps a thin stack's depth), or one
            entry per level. An axis with stride 1 uses a 3-wide kernel (padding 1) instead of 4-wide.
        final_act: output activation; ``"tanh"`` gives images in [-1, 1], ``None`` leaves the output unbounded.

    Raises:
        ValueError: for a bad argument. ``forward`` raises it when an input size is not divisible by the total
            downsampling factor of its axis.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        channels: int = 64,
        num_downs: int = 8,
        norm: NormSpec = "batch",
        dropout: float = 0.5,
        strides: int | Sequence[int] | Sequence[int | Sequence[int]] = 2,
        final_act: str | tuple | None = "tanh",
    ) -> None:
        super().__init__()
        if num_downs < 1 or channels < 1:
            raise ValueError(f"num_downs and channels must be positive, got {num_downs!r}, {channels!r}")
        self.spatial_dims = spatial_dims
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.strides = per_item(strides, num_downs, spatial_dims, "strides")
        if any(s not in (1, 2) for st in self.strides for s in st):
            raise ValueError(f"strides must be 1 or 2, got {strides!r}")
        #: total downsampling factor per axis: every input size must be a multiple of it.
        self.downsample_factor = tuple(math.prod(st[d] for st in self.strides) for d in range(spatial_dims))
        norm = norm_spec(norm)
        bias = conv_bias_for(norm)
        ch = [channels * min(2**i, 8) for i in range(num_downs)]
        last = num_downs - 1

        downs = []
        for i, st in enumerate(self.strides):
            kernel = tuple(4 if s == 2 else 3 for s in st)
            conv = Convolution(
                spatial_dims,
                in_channels if i == 0 else ch[i - 1],
                ch[i],
                strides=st,
                kernel_size=kernel,
                padding=1,
                norm=norm if 0 < i < last else None,
                act=None,
                bias=bias,
                conv_only=not (0 < i < last and norm is not None),
            )
            downs.append(conv if i == 0 else nn.Sequential(Act[_LEAKY[0]](**_LEAKY[1]), conv))
        self.downs = nn.ModuleList(downs)

        ups = []
        for i, st in enumerate(self.strides):
            kernel = tuple(4 if s == 2 else 3 for s in st)
            outermost = i == 0
            use_dropout = bool(dropout) and 4 <= i < last and ch[i - 1] == ch[i]
            conv = Convolution(
                spatial_dims,
                ch[i] if i == last else 2 * ch[i],
                out_channels if outermost else ch[i - 1],
                strides=st,
                kernel_size=kernel,
                padding=1,
                output_padding=0,
                is_transposed=True,
                norm=None if outermost else norm,
                dropout=dropout if use_dropout else None,
                act=None,
                bias=True if outermost else bias,
                conv_only=outermost or (norm is None and not use_dropout),
            )
            layers: list[nn.Module] = [Act["relu"](), conv]
            if outermost and final_act is not None:
                layers.append(Act[final_act]() if isinstance(final_act, str) else Act[final_act[0]](**final_act[1]))
            ups.append(nn.Sequential(*layers))
        self.ups = nn.ModuleList(ups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Translate ``x``.

        Args:
            x: ``(N, in_channels, *spatial)``, each spatial size a multiple of ``downsample_factor`` on its axis.

        Returns:
            ``(N, out_channels, *spatial)``.

        Raises:
            ValueError: when the input's rank, channels or sizes do not fit (never a silent crop).
        """
        check_input(x, self.spatial_dims, self.in_channels, self.downsample_factor, (), "UNetGenerator")
        skips = []
        for down in self.downs:
            x = down(x)
            skips.append(x)
        x = self.ups[-1](skips[-1])
        for i in range(len(self.ups) - 2, -1, -1):
            x = self.ups[i](torch.cat([skips[i], x], dim=1))
        return x
