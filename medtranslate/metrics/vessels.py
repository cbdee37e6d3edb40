"""Vessel-map statistics and the single-reference SSIM protocol of seed 004 (retinal fundus synthesis).

Pure functions on arrays: binary vessel maps ``(H, W)`` (or ``(1, H, W)``) in, numbers out. The statistics compare
generated vessel maps with training maps (seed 004 reports none; they say whether sampled trees look like real ones):

- **density**: the fraction of the image covered by vessels;
- **skeleton length**: pixels of the one-pixel-wide skeleton (``skimage.morphology.skeletonize``) divided by the image
  side, so that maps of different sizes compare (a 512-pixel map with 2 skeleton pixels per row reads 2.0);
- **branch points**: skeleton pixels with three or more skeleton neighbours (8-connectivity), adjacent ones merged
  into one junction;
- **end points**: skeleton pixels with exactly one neighbour;
- **components**: connected vessel pieces (a real tree is a few large pieces; noise makes many).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.utils import optional_import
from scipy import ndimage

from medtranslate.metrics.similarity import ssim

skeletonize, _has_skimage = optional_import("skimage.morphology", name="skeletonize")

__all__ = ["VESSEL_STATISTICS", "vessel_statistics", "summarize_statistics", "reference_ssim"]

#: the statistics :func:`vessel_statistics` returns, in report order.
VESSEL_STATISTICS = ("density", "skeleton_length", "branch_points", "end_points", "components")

_EIGHT = np.ones((3, 3), dtype=int)


def _mask(x: Any) -> np.ndarray:
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    a = np.squeeze(a)
    if a.ndim != 2:
        raise ValueError(f"a vessel map must be 2D (or (1, H, W)), got shape {np.shape(x)}")
    return a > (0.5 * a.max() if a.dtype.kind == "f" and a.max() > 1 else 0.5)


def vessel_statistics(mask: Any) -> dict[str, float]:
    """Vessel density, skeleton length, branch points, end points and components of one binary vessel map.

    Args:
        mask: ``(H, W)`` or ``(1, H, W)`` array or tensor; nonzero (> 0.5, or > half the maximum for 0..255 floats)
            is vessel.

    Returns:
        ``{name: value}`` for every name in :data:`VESSEL_STATISTICS`.

    Raises:
        ValueError: for a map that is not 2D.
        OptionalImportError: when scikit-image is not installed (``pip install medtranslate[eval]``).
    """
    m = _mask(mask)
    skel = np.asarray(skeletonize(m), dtype=bool)
    neighbours = ndimage.convolve(skel.astype(int), _EIGHT, mode="constant") - 1
    junction = skel & (neighbours >= 3)
    _, n_junctions = ndimage.label(junction, structure=_EIGHT)
    _, n_components = ndimage.label(m, structure=_EIGHT)
    return {
        "density": float(m.mean()),
        "skeleton_length": float(skel.sum()) / float(max(m.shape)),
        "branch_points": float(n_junctions),
        "end_points": float((skel & (neighbours == 1)).sum()),
        "components": float(n_components),
    }


def summarize_statistics(masks: Sequence[Any]) -> dict[str, dict[str, float]]:
    """Mean and standard deviation of each vessel statistic over a set of maps.

    Args:
        masks: binary vessel maps.

    Returns:
        ``{name: {"value": mean, "std": std, "n": count}}`` (report entries).
    """
    rows = [vessel_statistics(m) for m in masks]
    out: dict[str, dict[str, float]] = {}
    for name in VESSEL_STATISTICS:
        v = np.array([r[name] for r in rows], dtype=np.float64)
        out[name] = {"value": float(v.mean()), "std": float(v.std()), "n": len(rows)}
    return out


def reference_ssim(
    images: Sequence[Any], reference: Any, data_range: float, exclude: Sequence[int] = ()
) -> Mapping[str, float]:
    """Seed 004's protocol: the mean SSIM of a set of images against ONE reference image.

    The paper takes one DRIVE vessel map (and one fundus image) as reference and averages the SSIM of 20 generated
    images against it (0.74 for vessel maps), next to the average of the real images against the same reference
    (0.78). A high value says the images share the reference's global layout; it is not a per-image fidelity.

    Args:
        images: ``(C, H, W)`` images (or ``(H, W)`` for one channel), the same size as ``reference``.
        reference: the reference image.
        data_range: width of the value range (1 for 0/1 maps, 255 for 8-bit images).
        exclude: indices of ``images`` to leave out (the reference itself when it is one of the real images).

    Returns:
        ``{"value": mean SSIM, "std": std, "n": count}``.
    """
    ref = torch.as_tensor(np.asarray(reference), dtype=torch.float32)
    ref = ref[None] if ref.ndim == 2 else ref
    values = []
    for i, img in enumerate(images):
        if i in set(exclude):
            continue
        x = torch.as_tensor(np.asarray(img), dtype=torch.float32)
        x = x[None] if x.ndim == 2 else x
        values.append(float(ssim(x, ref, spatial_dims=2, data_range=data_range)[0]))
    v = np.array(values, dtype=np.float64)
    return {"value": float(v.mean()) if v.size else float("nan"), "std": float(v.std()) if v.size else 0.0, "n": v.size}
