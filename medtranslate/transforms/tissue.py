"""Tissue masks of whole slides by Otsu thresholding a low-resolution level (seed 001, sections 2.3.1-2.3.2).

Confocal modes show tissue bright on a dark background; bright-field H&E shows it dark (stained) on a white glass
background. :func:`otsu_tissue_mask` thresholds a thumbnail accordingly and :func:`tissue_fraction` says how much of
each patch of the full-resolution grid is tissue, from that mask.
"""

from __future__ import annotations

import numpy as np
from monai.utils import optional_import

threshold_otsu, _ = optional_import("skimage.filters", name="threshold_otsu")

__all__ = ["otsu_tissue_mask", "tissue_fraction", "he_darkness"]


def he_darkness(rgb: np.ndarray) -> np.ndarray:
    """How far an RGB bright-field pixel is from white glass: ``1 - min(R, G, B)`` (stained tissue is high).

    Args:
        rgb: ``(H, W, 3)`` values in [0, 1] or uint8.

    Returns:
        ``(H, W)`` float32 in [0, 1].
    """
    a = np.asarray(rgb)
    scale = 255.0 if a.dtype == np.uint8 else 1.0
    return (1.0 - a.min(axis=-1).astype(np.float32) / scale).astype(np.float32)


def otsu_tissue_mask(thumbnail: np.ndarray, bright_tissue: bool = True) -> np.ndarray:
    """Otsu-threshold a 2D thumbnail into a tissue mask.

    Args:
        thumbnail: ``(H, W)`` grayscale (confocal mode, or :func:`he_darkness` of an H&E thumbnail).
        bright_tissue: tissue is above the threshold (confocal, H&E darkness); ``False`` for below.

    Returns:
        A boolean ``(H, W)`` mask; all ``False`` when the thumbnail is flat (no tissue to separate).
    """
    t = np.asarray(thumbnail, dtype=np.float32)
    finite = t[np.isfinite(t)]
    if finite.size == 0 or float(finite.max()) - float(finite.min()) < 1e-6:
        return np.zeros(t.shape, dtype=bool)
    threshold = float(threshold_otsu(finite))
    return (t > threshold) if bright_tissue else (t < threshold)


def tissue_fraction(mask: np.ndarray, image_shape: tuple[int, int], y: int, x: int, size: tuple[int, int]) -> float:
    """The fraction of the full-resolution box ``[y, y + h) x [x, x + w)`` that a thumbnail mask calls tissue.

    Args:
        mask: the thumbnail mask ``(h_t, w_t)``.
        image_shape: ``(H, W)`` of the full-resolution level the box is on.
        y: top row of the box.
        x: left column of the box.
        size: ``(h, w)`` of the box.

    Returns:
        The tissue fraction in [0, 1] (at least one thumbnail pixel is always looked at).
    """
    sy, sx = mask.shape[0] / image_shape[0], mask.shape[1] / image_shape[1]
    y0, x0 = int(np.floor(y * sy)), int(np.floor(x * sx))
    y1, x1 = max(y0 + 1, int(np.ceil((y + size[0]) * sy))), max(x0 + 1, int(np.ceil((x + size[1]) * sx)))
    box = mask[y0:y1, x0:x1]
    return float(box.mean()) if box.size else 0.0
