"""Despeckling CNN with a multiplicative residual connection (seed 001, confocal RCM → H&E).

The observed reflectance image follows the speckle model ``Y = X * (1 + F)`` (seed 001, section 2.1), so the clean
image is ``X = Y * 1 / (1 + F)``. The network's last layer (one ``tanh`` filter) estimates that inverse noise factor
as ``1 + t`` with ``t`` in ``(-1, 1)``, and the multiplicative residual connection multiplies it onto the input:

    X_hat = Y * (1 + t)

With ``t = 0`` the network is the identity, exactly as an additive residual network is with a zero branch; the
factor ``1 + t`` spans ``(0, 2)``, i.e. speckle values ``F > -0.5``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.blocks import Convolution
from monai.networks.layers import MedianFilter
from torch import nn

__all__ = ["DespeckleNet"]


class DespeckleNet(nn.Module):
    """Fully convolutional despeckling network of seed 001 (one class for 2D and 3D).

    ``num_layers`` convolutions of ``channels`` filters with PReLU (batch norm on all but the first, the "intermediate
    layers"), then one convolution with ``in_channels`` filters (a single filter for the seed's grayscale RCM) and
    ``tanh``, combined with the input through the multiplicative residual ``X_hat = Y * (1 + t)``. The seed trains it
    with the squared error against clean images (``torch.nn.MSELoss``) and removes the remaining isolated noisy pixels
    with a 3x3 median filter after training; ``median_filter=True`` applies that post-filter (3x3x3 in 3D, through
    MONAI's ``MedianFilter``) in eval mode.

    The speckle model is multiplicative, so it needs non-negative intensities: the seed normalises both confocal modes
    to [0, 1]. Inputs are mapped from ``value_range`` to [0, 1] before the residual and back afterwards, so the network
    also serves data kept in the project's [-1, 1] convention (``value_range=(-1.0, 1.0)``).

    Args:
        spatial_dims: number of spatial dimensions, 2 or 3.
        in_channels: number of image channels; the output has the same number.
        channels: filters of each intermediate convolution (seed: 64).
        num_layers: number of intermediate convolutions (seed: 7).
        kernel_size: convolution kernel size.
        act: activation of the intermediate convolutions, a MONAI ``Act`` name or ``(name, kwargs)``.
        norm: normalisation of the intermediate convolutions (all but the first), a MONAI ``Norm`` spec.
        median_filter: apply the median post-filter.
        median_radius: median filter radius (1 gives the seed's 3x3 / 3x3x3 window).
        median_in_training: also apply the median filter in training mode (default: post-processing only).
        value_range: ``(low, high)`` intensity range of inputs and outputs.

    Raises:
        ValueError: on an unsupported ``spatial_dims``, ``num_layers < 1`` or an empty ``value_range``.
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        channels: int = 64,
        num_layers: int = 7,
        kernel_size: Sequence[int] | int = 3,
        act: tuple | str = "prelu",
        norm: tuple | str | None = "batch",
        median_filter: bool = False,
        median_radius: int = 1,
        median_in_training: bool = False,
        value_range: Sequence[float] = (0.0, 1.0),
    ) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        low, high = (float(v) for v in value_range)
        if not high > low:
            raise ValueError(f"value_range must be (low, high) with high > low, got {tuple(value_range)}")
        self.spatial_dims = spatial_dims
        self.value_range = (low, high)
        self.median_in_training = median_in_training

        layers: list[nn.Module] = []
        for i in range(num_layers):
            layers.append(
                Convolution(
                    spatial_dims,
                    in_channels if i == 0 else channels,
                    channels,
                    kernel_size=kernel_size,
                    act=act,
                    norm=None if i == 0 else norm,
                )
            )
        self.features = nn.Sequential(*layers)
        # the last layer: one tanh filter per image channel, the estimate t of 1 / (1 + F) - 1
        self.inverse_noise = Convolution(
            spatial_dims, channels, in_channels, kernel_size=kernel_size, act="tanh", norm=None
        )
        self.median = MedianFilter(median_radius, spatial_dims=spatial_dims) if median_filter else None

    def noise_factor(self, x: torch.Tensor) -> torch.Tensor:
        """The estimated inverse speckle factor ``1 / (1 + F_hat) = 1 + t`` for an input in ``value_range``.

        Args:
            x: noisy image ``Y``, shape ``(B, C, *spatial)``.

        Returns:
            The factor, same shape as ``x``, in ``(0, 2)``.
        """
        return 1.0 + self.inverse_noise(self.features(self._to_unit(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Despeckle ``x``.

        Args:
            x: noisy image ``Y`` in ``value_range``, shape ``(B, C, *spatial)``.

        Returns:
            The estimate ``X_hat = Y * (1 + t)`` (median-filtered when enabled), in the input's units.
        """
        y = self._to_unit(x)
        out = y * (1.0 + self.inverse_noise(self.features(y)))
        if self.median is not None and (self.median_in_training or not self.training):
            out = self.median(out)
        low, high = self.value_range
        return out if (low, high) == (0.0, 1.0) else out * (high - low) + low

    def _to_unit(self, x: torch.Tensor) -> torch.Tensor:
        low, high = self.value_range
        return x if (low, high) == (0.0, 1.0) else (x - low) / (high - low)
