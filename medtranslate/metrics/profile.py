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


def depth_profile(image: Any, size: tuple[int, int] | None = None, depth_axis: int = -1) -> torch.Tensor:
    """Mean intensity at each depth of a 2D B-scan, after an optional resize.

    Args:
        image: ``(X, Y)`` or ``(C, X, Y)``.
        size: resize the two spatial axes to this size first (bilinear, anti-aliased).
        depth_axis: the spatial axis (0 or 1, or -1 for the last) that is depth. medtranslate's readers return PNGs
            as ``(C, X, Y)`` (column index first), so a B-scan's depth (its image rows) is the last axis: ``-1``.

    Returns:
        ``(depth,)`` float32 profile.
    """
    x = _grey_2d(image)
    if size is not None and tuple(x.shape) != tuple(size):
        x = F.interpolate(x[None, None], size=tuple(size), mode="bilinear", align_corners=False, antialias=True)[0, 0]
    return x.mean(dim=1 - (depth_axis % 2))


def _detrend(profile: torch.Tensor, sigma: float) -> torch.Tensor:
    """The profile minus its Gaussian-smoothed self (``sigma`` in samples): the bands, without the slow trend."""
    radius = max(1, int(round(3 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = (kernel / kernel.sum())[None, None]
    smooth = F.conv1d(F.pad(profile[None, None], (radius, radius), mode="replicate"), kernel)[0, 0]
    return profile - smooth


def layer_profile_correlation(pred: Any, target: Any, depth_axis: int = -1, detrend: float = 1 / 16) -> float:
    """Pearson correlation of the depth profiles of two B-scans (1: layers at the same depths, same contrast order).

    The OCT sample generator knows where each layer is; a translation that recovers the retina's layering puts
    reflective and dark bands at the depths of the real B-scan of the same eye, whatever its speckle. ``pred`` is
    resized to ``target``'s grid; a colour ``pred`` (e.g. the untouched fundus photograph, the identity baseline) is
    averaged over its channels. With ``detrend > 0`` each profile first loses its slow trend (a Gaussian of
    ``detrend`` times the depth, 1/16 by default, is subtracted), so that the score rewards layers, not merely a
    bright middle: any photograph of a round fundus is bright in its middle rows, as a B-scan's retina is.

    Args:
        pred: ``(X, Y)`` or ``(C, X, Y)`` image, e.g. a synthetic OCT.
        target: ``(X, Y)`` or ``(C, X, Y)`` reference B-scan.
        depth_axis: the spatial axis that is depth (see :func:`depth_profile`; ``-1`` for medtranslate-loaded PNGs,
            ``0`` for a ``(H, W)`` NumPy image).
        detrend: width of the trend removed, as a fraction of the depth (0: raw profiles).

    Returns:
        The correlation in ``[-1, 1]`` (0 when either profile is flat).
    """
    t = depth_profile(target, depth_axis=depth_axis)
    p = depth_profile(pred, tuple(_grey_2d(target).shape), depth_axis)
    if detrend > 0:
        sigma = max(float(detrend) * t.numel(), 0.5)
        p, t = _detrend(p, sigma), _detrend(t, sigma)
    p, t = p - p.mean(), t - t.mean()
    denom = float(p.norm() * t.norm())
    return float((p * t).sum()) / denom if denom > 0 else 0.0
