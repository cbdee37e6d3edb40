"""Measure tiling seams: is the output's gradient energy higher on window borders than elsewhere?

A seam is a jump between neighbouring voxels exactly where one window ends and the next begins. For each spatial axis,
the finite difference across every plane is averaged; planes where a window starts or ends (inside the image) are
"border" planes, the rest are "other" planes. A seam-free output has ``ratio = border / other`` close to 1 (it is a
ratio of means over different planes, so it varies a little with the content); visible seams push it well above 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from monai.data.utils import dense_patch_slices

from medtranslate.errors import ConfigError

__all__ = ["SeamScore", "window_starts", "window_borders", "seam_score"]


def _intervals(image_size: Sequence[int], roi_size: Sequence[int], overlap: Sequence[float]) -> list[int]:
    # the same rule as monai.inferers.utils._get_scan_interval (private there)
    out = []
    for size, roi, o in zip(image_size, roi_size, overlap):
        out.append(int(roi) if roi == size else max(int(roi * (1 - o)), 1))
    return out


def window_starts(
    image_size: Sequence[int], roi_size: Sequence[int], overlap: Sequence[float] | float
) -> list[list[int]]:
    """Start index of the windows along each axis, as MONAI's sliding-window inference places them.

    Args:
        image_size: spatial size of the (padded) image; every entry must be >= the window.
        roi_size: window size.
        overlap: overlap fraction, one value or one per axis.
    """
    ov = overlap if isinstance(overlap, Sequence) else (overlap,) * len(roi_size)
    if len(image_size) != len(roi_size) or any(s < r for s, r in zip(image_size, roi_size)):
        raise ConfigError(None, f"image {tuple(image_size)} must be at least the window {tuple(roi_size)} everywhere")
    slices = dense_patch_slices(image_size, roi_size, _intervals(image_size, roi_size, ov))
    return [sorted({s[a].start for s in slices}) for a in range(len(roi_size))]


def window_borders(
    image_size: Sequence[int], roi_size: Sequence[int], overlap: Sequence[float] | float
) -> list[list[int]]:
    """Planes inside the image where a window starts or ends, per axis.

    Plane ``p`` is the boundary between index ``p - 1`` and ``p``.

    Args:
        image_size: spatial size of the image.
        roi_size: window size.
        overlap: overlap fraction.
    """
    starts = window_starts(image_size, roi_size, overlap)
    out = []
    for size, roi, axis_starts in zip(image_size, roi_size, starts):
        planes = {s for s in axis_starts} | {s + roi for s in axis_starts}
        out.append(sorted(p for p in planes if 0 < p < size))
    return out


@dataclass(frozen=True)
class SeamScore:
    """Mean absolute finite difference across window-border planes and across the other planes, per axis.

    Axes are compared with themselves only: anisotropic stacks (thin OCT slabs) have different gradients along depth
    and in-plane, so pooling the axes would hide or invent seams.

    Args:
        border: per axis, mean |difference| across border planes (NaN for an axis with a single window).
        other: per axis, mean |difference| across the other planes.
        ratios: per axis, ``border / other`` (NaN for an axis with a single window).
        ratio: the worst (largest) per-axis ratio: ~1 means no visible seam.
        border_planes: number of border planes, all axes.
    """

    border: tuple[float, ...]
    other: tuple[float, ...]
    ratios: tuple[float, ...]
    ratio: float
    border_planes: int


def seam_score(
    image: Any, roi_size: Sequence[int], overlap: Sequence[float] | float, interior_margin: int = 0
) -> SeamScore:
    """Compare, axis by axis, the gradient energy on window borders with the rest of an output.

    Args:
        image: the translated output, (..., *spatial): the last ``len(roi_size)`` axes are spatial, leading axes
            (batch, channels) are averaged over. Numpy array or torch tensor.
        roi_size: the window size that produced it (the output must not have been padded).
        overlap: the overlap that produced it.
        interior_margin: planes closer than this to the image edge along an axis are left out on that axis.

    Returns:
        A :class:`SeamScore`.

    Raises:
        ConfigError: when there is no window border (a single window) or the sizes do not fit.
    """
    x = image.detach().cpu() if isinstance(image, torch.Tensor) else torch.as_tensor(np.asarray(image))
    x = x.double()
    sd = len(roi_size)
    spatial = tuple(x.shape[-sd:])
    borders = window_borders(spatial, roi_size, overlap)
    nan = float("nan")
    border, other, ratios, count = [], [], [], 0
    for axis, planes in enumerate(borders):
        dim = x.ndim - sd + axis
        diff = x.diff(dim=dim).abs().movedim(dim, 0)  # diff[p - 1] crosses plane p
        per_plane = diff.reshape(diff.shape[0], -1).mean(1)
        inside = range(1 + interior_margin, spatial[axis] - interior_margin)
        on = [float(per_plane[p - 1]) for p in inside if p in planes]
        off = [float(per_plane[p - 1]) for p in inside if p not in planes]
        b = sum(on) / len(on) if on else nan
        o = sum(off) / len(off) if off else nan
        border.append(b)
        other.append(o)
        ratios.append(nan if not on or not off else (b / o if o > 0 else float("inf")))
        count += len(on)
    valid = [r for r in ratios if r == r]
    if not valid:
        raise ConfigError(None, "no window border inside the image (a single window): there is no seam to measure")
    return SeamScore(tuple(border), tuple(other), tuple(ratios), max(valid), count)
