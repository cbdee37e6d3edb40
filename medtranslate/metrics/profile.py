"""Depth-profile agreement of B-scans: does a synthetic OCT put its bright and dark layers at the right depths?"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["depth_profile", "layer_profile_correlation"]


def _grey_2d(image: Any) -> torch.Tensor:
    x = torch.as_tensor(image).detach().float().cpu()
    if x.ndim == 3:  # channel first: average the channels (a colour input is judged by its luminance)
        x = x.mean(dim=0)
    if x.ndim != 2:
        raise ValueError(f"expected a 2D image (H, W) or (C, H, W), got shape {tuple(x.shape)}")
    return x


def depth_profile(image: Any, size: tuple[int, int] | None = None) -> torch.Tensor:
    """Mean intensity of each row (depth) of a 2D image, after an optional resize.

    Args:
        image: ``(H, W)`` or ``(C, H, W)``; rows are depth, as in a B-scan.
        size: resize to this ``(H, W)`` first (bilinear, anti-aliased).

    Returns:
        ``(H,)`` float32 profile.
    """
    x = _grey_2d(image)
    if size is not None and tuple(x.shape) != tuple(size):
        x = F.interpolate(x[None, None], size=tuple(size), mode="bilinear", align_corners=False, antialias=True)[0, 0]
    return x.mean(dim=1)


def layer_profile_correlation(pred: Any, target: Any) -> float:
    """Pearson correlation of the depth profiles of two B-scans (1: layers at the same depths, same contrast order).

    The OCT sample generator knows where each layer is; a translation that recovers the retina's layering puts
    reflective and dark bands at the depths of the real B-scan of the same eye, whatever its speckle. ``pred`` is
    resized to ``target``'s grid; a colour ``pred`` (e.g. the untouched fundus photograph, the identity baseline) is
    averaged over its channels.

    Args:
        pred: ``(H, W)`` or ``(C, H, W)`` image, e.g. a synthetic OCT.
        target: ``(H, W)`` or ``(C, H, W)`` reference B-scan.

    Returns:
        The correlation in ``[-1, 1]`` (0 when either profile is flat).
    """
    t = depth_profile(target)
    p = depth_profile(pred, tuple(_grey_2d(target).shape))
    p, t = p - p.mean(), t - t.mean()
    denom = float(p.norm() * t.norm())
    return float((p * t).sum()) / denom if denom > 0 else 0.0
