"""Structure recovery: does a translation show the anatomy that the ground truth knows is there?

Pure functions, tensors (or arrays) in, floats out, for the sample data sets whose generators write their ground truth
(see docs/evaluation.md, "Structure recovery"):

* :func:`vessel_dice`: Dice of the bright structure of an en-face projection (thresholded by Otsu's method) against
  a ground-truth vessel mask, e.g. the red (vessel) channel of a synthetic confocal stack against the vessel tree of
  the OCT eye it was translated from. ``invert=True`` scores a dark structure (the vessel shadows of the OCT itself).
* :func:`stack_vessel_dice`: the same from a channel-first stack: one channel, projected along the depth.
* :func:`paired_ssim` / :func:`paired_psnr`: slice-wise 2D SSIM / PSNR of a translation against the registered image
  of the same anatomy in the target modality (CT -> MR against the paired MR phantom), or of a cycle reconstruction
  against its input ("cycle SSIM").
* :func:`foreground_slices`: which slices hold enough of the body to be scored.

The identity baseline of each metric is the same function applied to the untranslated input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from medtranslate.errors import ConfigError, InputError
from medtranslate.metrics.projection import en_face_projection
from medtranslate.metrics.similarity import psnr, ssim

__all__ = [
    "otsu_threshold",
    "dice",
    "vessel_dice",
    "stack_vessel_dice",
    "foreground_slices",
    "paired_ssim",
    "paired_psnr",
]


def _tensor(x: Any, name: str) -> torch.Tensor:
    t = x.as_tensor() if hasattr(x, "as_tensor") else x
    t = t if isinstance(t, torch.Tensor) else torch.as_tensor(np.asarray(x))
    t = t.detach().cpu()
    if t.is_floating_point() and not torch.isfinite(t).all():
        raise InputError(None, f"{name} holds NaN or infinite values")
    return t


def otsu_threshold(image: Any, bins: int = 256) -> float:
    """Otsu's threshold: the level that maximises the between-class variance of the image's histogram.

    Args:
        image: any array or tensor (all its values count).
        bins: histogram bins over ``[min, max]``.

    Returns:
        The threshold; values strictly above it form the bright class. A constant image returns its value.
    """
    x = _tensor(image, "image").double().flatten()
    lo, hi = float(x.min()), float(x.max())
    if hi <= lo:
        return lo
    hist = torch.histc(x, bins=bins, min=lo, max=hi)
    centres = lo + (torch.arange(bins, dtype=torch.float64) + 0.5) * (hi - lo) / bins
    w0 = torch.cumsum(hist, 0)
    w1 = w0[-1] - w0
    m0 = torch.cumsum(hist * centres, 0)
    mean0 = m0 / w0.clamp_min(1e-12)
    mean1 = (m0[-1] - m0) / w1.clamp_min(1e-12)
    between = w0 * w1 * (mean0 - mean1) ** 2
    k = int(torch.argmax(between[:-1]))
    return float(lo + (k + 1) * (hi - lo) / bins)  # upper edge of the last bin of the dark class


def dice(mask: Any, reference: Any) -> float:
    """Dice overlap ``2 |A & B| / (|A| + |B|)`` of two boolean masks (1.0 when both are empty).

    Args:
        mask: predicted mask.
        reference: ground-truth mask of the same shape.

    Returns:
        The Dice coefficient in [0, 1].

    Raises:
        InputError: when the shapes differ.
    """
    a, b = _tensor(mask, "mask").bool(), _tensor(reference, "reference").bool()
    if a.shape != b.shape:
        raise InputError(None, f"mask shape {tuple(a.shape)} differs from the reference {tuple(b.shape)}")
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total


def vessel_dice(projection: Any, vessels: Any, threshold: float | None = None, invert: bool = False) -> float:
    """Dice of the bright structure of a 2D en-face image against a vessel mask.

    Args:
        projection: ``(H, W)`` image, e.g. the mean projection of a synthetic confocal stack's red channel.
        vessels: ``(H, W)`` ground-truth vessel mask (non-zero = vessel); singleton axes (a channel-first ``(1, H, W)``
            mask as loaded from a file) are dropped.
        threshold: fixed level; default Otsu's threshold of ``projection``.
        invert: score the dark structure instead (values below the threshold).

    Returns:
        The Dice coefficient in [0, 1].

    Raises:
        InputError: when the image is not 2D or its shape differs from the mask's.
    """
    p = _tensor(projection, "projection").double()
    if p.ndim != 2:
        raise InputError(None, f"the en-face image must be 2D (H, W), not of shape {tuple(p.shape)}")
    v = _tensor(vessels, "vessels")
    if v.ndim > 2 and all(n == 1 for n in v.shape[:-2]):
        v = v.reshape(v.shape[-2:])
    level = otsu_threshold(p) if threshold is None else float(threshold)
    return dice(p <= level if invert else p > level, v)


def stack_vessel_dice(
    stack: Any,
    vessels: Any,
    depth_axis: int = 0,
    channel: int = 0,
    mode: str = "mean",
    threshold: float | None = None,
    invert: bool = False,
) -> float:
    """:func:`vessel_dice` of one channel of a channel-first stack, projected along its depth.

    Args:
        stack: ``(C, *spatial)`` stack with three spatial axes (a synthetic confocal stack: ``C = 3``, red first).
        vessels: ground-truth vessel mask of the two other spatial axes.
        depth_axis: the depth axis among the spatial axes.
        channel: the channel scored (0: red, IB4-labelled vessels).
        mode: projection, ``"mean"`` (fundus-like) or ``"max"``.
        threshold: fixed level; default Otsu's.
        invert: score the dark structure.

    Returns:
        The Dice coefficient in [0, 1].

    Raises:
        InputError: for a stack that is not ``(C, D, H, W)`` or has no such channel.
        ConfigError: for a bad axis or mode.
    """
    s = _tensor(stack, "stack").float()
    if s.ndim != 4:
        raise InputError(None, f"the stack must be channel-first (C, D, H, W), not of shape {tuple(s.shape)}")
    if not -s.shape[0] <= channel < s.shape[0]:
        raise InputError(None, f"the stack has {s.shape[0]} channel(s), there is no channel {channel}")
    projection = en_face_projection(s[channel], axis=depth_axis, mode=mode)
    return vessel_dice(projection, vessels, threshold=threshold, invert=invert)


def foreground_slices(volume: Any, slice_axis: int, level: float = -0.95, min_fraction: float = 0.05) -> torch.Tensor:
    """Slices that hold at least ``min_fraction`` of voxels above ``level`` (the body, not the air around it).

    Args:
        volume: ``(C, *spatial)`` image in the networks' range ([-1, 1]: air is -1).
        slice_axis: the slicing axis among the spatial axes.
        level: background level.
        min_fraction: smallest share of foreground voxels a kept slice has.

    Returns:
        Boolean ``(n_slices,)`` tensor.
    """
    v = _tensor(volume, "volume").float()
    return (v > level).float().movedim(1 + slice_axis, 0).flatten(1).mean(1) >= min_fraction


def _slice_pairs(
    pred: Any, target: Any, slice_axis: int | None, keep: Any | None
) -> tuple[torch.Tensor, torch.Tensor, int]:
    p, t = _tensor(pred, "prediction").float(), _tensor(target, "target").float()
    if p.shape != t.shape:
        raise InputError(None, f"prediction shape {tuple(p.shape)} differs from the target {tuple(t.shape)}")
    if slice_axis is None:  # (C, H, W): one 2D image
        if p.ndim != 3:
            raise InputError(None, f"a 2D image must be (C, H, W), not of shape {tuple(p.shape)}")
        p, t = p[None], t[None]
    else:
        if p.ndim != 4:
            raise InputError(None, f"a volume must be (C, D1, D2, D3), not of shape {tuple(p.shape)}")
        if not -3 <= slice_axis < 3:
            raise ConfigError(None, f"slice_axis {slice_axis} is out of range for three spatial axes")
        p, t = p.movedim(1 + slice_axis % 3, 0), t.movedim(1 + slice_axis % 3, 0)
        if keep is not None:
            k = _tensor(keep, "keep").bool()
            if k.shape != (p.shape[0],):
                raise InputError(None, f"keep has shape {tuple(k.shape)}, not ({p.shape[0]},) (one per slice)")
            p, t = p[k], t[k]
    if p.shape[0] == 0:
        raise InputError(None, "no slice is left to score")
    win = min(11, *p.shape[2:])
    win -= (win + 1) % 2  # the largest odd window that fits, at most 11
    return p, t, max(win, 3)


def paired_ssim(
    pred: Any, target: Any, slice_axis: int | None = 2, data_range: float = 2.0, keep: Sequence[bool] | None = None
) -> float:
    """Mean slice-wise 2D SSIM of a translation against the registered image of the same anatomy.

    Use it for the translation against the paired target-modality image (e.g. synthetic MR against the MR phantom
    of the same head), for a cycle reconstruction against its input ("cycle SSIM"), and on the untranslated input
    against the target for the identity baseline. Both images must be in the same normalised range.

    Args:
        pred: ``(C, D1, D2, D3)`` volume, or ``(C, H, W)`` image with ``slice_axis=None``.
        target: same shape.
        slice_axis: the slicing axis among the spatial axes; ``None`` for one 2D image.
        data_range: width of the value range (2 for [-1, 1]).
        keep: which slices count (e.g. :func:`foreground_slices`); default all.

    Returns:
        The mean SSIM over the kept slices (Gaussian window of 11, or the largest odd size that fits).

    Raises:
        InputError: on mismatched shapes, non-finite values or no slice left.
        ConfigError: on a bad axis or data range.
    """
    p, t, win = _slice_pairs(pred, target, slice_axis, keep)
    return float(ssim(p, t, spatial_dims=2, data_range=data_range, win_size=win).mean())


def paired_psnr(
    pred: Any, target: Any, slice_axis: int | None = 2, data_range: float = 2.0, keep: Sequence[bool] | None = None
) -> float:
    """Mean slice-wise PSNR (dB), the companion of :func:`paired_ssim` (same arguments).

    Args:
        pred: ``(C, D1, D2, D3)`` volume, or ``(C, H, W)`` image with ``slice_axis=None``.
        target: same shape.
        slice_axis: the slicing axis among the spatial axes; ``None`` for one 2D image.
        data_range: width of the value range (2 for [-1, 1]).
        keep: which slices count; default all.

    Returns:
        The mean PSNR over the kept slices, in dB.

    Raises:
        InputError: on mismatched shapes, non-finite values or no slice left.
        ConfigError: on a bad axis or data range.
    """
    p, t, _ = _slice_pairs(pred, target, slice_axis, keep)
    return float(psnr(p, t, spatial_dims=2, data_range=data_range).mean())
