"""Turn any image the package reads into the PNGs a rater sees: a 2D view, and for volumes a slice strip too.

Volumes are shown as their en-face projection (mean along the depth axis, seed 000's "fundus-like 2D projections")
with a strip of evenly spaced depth slices below it. 2D images are shown as they are. Rows of a PNG are the second
spatial axis and columns the first, the convention :func:`medtranslate.io.save_image` writes PNGs with, so a PNG output
looks here exactly as it does in an image viewer.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from medtranslate.errors import InputError
from medtranslate.io import load_image
from medtranslate.metrics.figures import to_display
from medtranslate.metrics.projection import en_face_projection, volume_slices
from medtranslate.utils.atomic import atomic_path

__all__ = ["ImageViews", "image_views", "display_range", "save_png", "STRIP_SLICES"]

#: Number of depth slices in a volume's strip.
STRIP_SLICES = 5


@dataclass
class ImageViews:
    """The 2D views of one image, channel-first ``(C, rows, cols)`` float arrays, C = 1 or 3.

    Args:
        view: the image itself (2D) or its en-face projection (volume).
        strip: evenly spaced depth slices side by side (volumes only), else ``None``.
    """

    view: np.ndarray
    strip: np.ndarray | None = None


def _channels(a: np.ndarray, path: str | os.PathLike) -> np.ndarray:
    c = a.shape[0]
    if c in (1, 3):
        return a
    if c == 4:  # RGBA: the colour, without the alpha
        return a[:3]
    if c == 2:
        return a[:1]
    raise InputError(path, f"has {c} channels: a rating page shows grayscale (1) or RGB (3) images")


def _rows_cols(plane: np.ndarray) -> np.ndarray:
    """(C, X, Y) -> (C, Y, X): rows are the second spatial axis, as in a PNG."""
    return np.ascontiguousarray(np.swapaxes(plane, -1, -2))


def image_views(
    path: str | os.PathLike, depth_axis: int = 0, series_uid: str | None = None, n_slices: int = STRIP_SLICES
) -> ImageViews:
    """Read an image (any format :func:`medtranslate.io.load_image` reads) and make its rating views.

    Args:
        path: the image file or DICOM folder.
        depth_axis: for volumes, the depth axis among the spatial axes.
        series_uid: picks a series in a DICOM folder holding several.
        n_slices: slices in a volume's strip.

    Returns:
        The views; a volume with a single slice along any axis counts as 2D (that plane).

    Raises:
        InputError: when the image cannot be read or has an unsupported shape.
    """
    img = load_image(path, series_uid=series_uid)
    a = np.asarray(img.detach().cpu().numpy() if hasattr(img, "detach") else img, dtype=np.float32)
    spatial = a.ndim - 1
    if spatial == 3 and 1 in a.shape[1:]:  # one slice (a 2D DICOM or NIfTI): the plane itself
        flat = 1 + depth_axis if a.shape[1 + depth_axis] == 1 else 1 + a.shape[1:].index(1)
        a, spatial = np.take(a, 0, axis=flat), 2
    if spatial == 2:
        return ImageViews(_rows_cols(_channels(a, path)))
    if spatial != 3:
        raise InputError(path, f"has {spatial} spatial dimensions: a rating page shows 2D images and 3D volumes")
    a = _channels(a, path)
    axis = 1 + depth_axis
    view = en_face_projection(a, axis=axis, mode="mean")
    slices = volume_slices(a, axis=axis)  # (D, C, X, Y)
    picks = np.unique(np.linspace(0, slices.shape[0] - 1, min(n_slices, slices.shape[0])).round().astype(int))
    gap = np.full((a.shape[0], slices.shape[-1], 1), np.nan, dtype=np.float32)  # rows = Y after _rows_cols
    parts: list[np.ndarray] = []
    for k in picks:
        parts += [_rows_cols(slices[k]), gap]
    return ImageViews(_rows_cols(view), np.concatenate(parts[:-1], axis=-1))


def display_range(arrays: Sequence[np.ndarray]) -> tuple[float, float]:
    """One display range for several images (1st to 99th percentile of their finite values together).

    Keeping one range for a set's references and model outputs keeps their relative brightness: an output darker
    than another also looks darker.

    Args:
        arrays: the images.

    Returns:
        ``(low, high)``.
    """
    values = np.concatenate([a[np.isfinite(a)].ravel() for a in arrays])
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(values, [1, 99]))
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def save_png(image: Any, path: str | os.PathLike, value_range: tuple[float, float] | None = None) -> Path:
    """Write a ``(C, rows, cols)`` view as an 8-bit PNG (NaN gaps are drawn white).

    Args:
        image: the view.
        path: the PNG (written through a temporary name and a rename).
        value_range: ``(low, high)`` shown as black and white; ``None`` stretches the view's own 1-99 percentiles.

    Returns:
        The PNG path.
    """
    a = np.asarray(image, dtype=np.float32)
    gaps = ~np.isfinite(a).all(axis=0)
    shown = to_display(a, value_range)
    shown = np.where(gaps[..., None] if shown.ndim == 3 else gaps, 1.0, shown)
    pixels = (shown * 255.0 + 0.5).astype(np.uint8)
    with atomic_path(path) as tmp:
        Image.fromarray(pixels).save(tmp, format="PNG", optimize=True)
    return Path(path)
