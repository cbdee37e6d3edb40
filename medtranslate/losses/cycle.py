"""Cycle-consistency loss: L1, optionally mixed with SSIM as in ganslate."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from monai.losses import SSIMLoss
from monai.networks.layers import GaussianFilter
from monai.utils import ensure_tuple_rep
from torch import nn

from ._precision import float32_region

__all__ = ["CycleLoss"]


class CycleLoss(nn.Module):
    """Cycle-consistency loss between a reconstruction ``F(G(x))`` and the original ``x``.

    ``loss = a * (1 - SSIM(rec, x)) + (1 - a) * mean|rec - x|`` with ``a = ssim_weight``; ``a = 0`` (the default) is
    the plain L1 of CycleGAN and of seeds 000 / 003. ganslate's SSIM mix uses ``a = 0.84`` (the proportion of Zhao et
    al.'s L1 + SSIM loss). SSIM is MONAI's ``SSIMLoss`` with a Gaussian window, evaluated on the valid region, with
    ``data_range`` 2 for images in [-1, 1]. The arithmetic runs in float32 with autocast disabled.

    Args:
        ssim_weight: the SSIM proportion ``a`` in [0, 1].
        spatial_dims: 2 or 3.
        data_range: the image value range (2.0 for [-1, 1]).
        win_size: SSIM window, an int or one value per spatial axis (every axis of the image must be at least this
            long: use e.g. ``(5, 11, 11)`` for thin 9-slice stacks).
        blur_sigma: standard deviation, in pixels, of the Gaussian low-pass applied to both images, one value or one
            per spatial axis (0 leaves an axis alone); ``None`` (default) compares them as they are.

    Raises:
        ValueError: when ``ssim_weight`` is outside [0, 1] or a ``blur_sigma`` is negative.
    """

    def __init__(
        self,
        ssim_weight: float = 0.0,
        spatial_dims: int = 2,
        data_range: float = 2.0,
        win_size: Sequence[int] | int = 11,
        blur_sigma: Sequence[float] | float | None = None,
    ) -> None:
        super().__init__()
        if not 0.0 <= ssim_weight <= 1.0:
            raise ValueError(f"ssim_weight must be in [0, 1], got {ssim_weight}")
        self.ssim_weight = float(ssim_weight)
        self.spatial_dims = spatial_dims
        self.win_size = ensure_tuple_rep(win_size, spatial_dims)
        self.ssim = SSIMLoss(spatial_dims, data_range=data_range, win_size=self.win_size) if ssim_weight > 0 else None
        self.blur: GaussianFilter | None = None
        if blur_sigma is not None:
            sigma = tuple(float(v) for v in ensure_tuple_rep(blur_sigma, spatial_dims))
            if min(sigma) < 0:
                raise ValueError(f"blur_sigma must not be negative, got {blur_sigma}")
            self.blur = GaussianFilter(spatial_dims, sigma) if max(sigma) > 0 else None

    def forward(self, reconstructed: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            reconstructed: ``F(G(x))``, shape ``(B, C, *spatial)``.
            real: ``x``, same shape.

        Returns:
            The scalar loss, float32.

        Raises:
            ValueError: on a shape mismatch, or an image smaller than the SSIM window.
        """
        if reconstructed.shape != real.shape:
            raise ValueError(
                f"reconstruction {tuple(reconstructed.shape)} and original {tuple(real.shape)} differ in shape"
            )
        with float32_region(real):
            rec, x = reconstructed.float(), real.float()
            if self.blur is not None:
                rec, x = self.blur(rec), self.blur(x)
            l1 = F.l1_loss(rec, x)
            if self.ssim is None:
                return l1
            spatial = tuple(x.shape[2:])
            if len(spatial) != self.spatial_dims or any(s < w for s, w in zip(spatial, self.win_size)):
                raise ValueError(
                    f"SSIM window {self.win_size} does not fit spatial size {spatial}: pass a smaller win_size"
                )
            return self.ssim_weight * self.ssim(rec, x) + (1.0 - self.ssim_weight) * l1
