"""CT-like and MR-like head phantoms built on one tissue map, so a CT and an MR of the same seed are a registered pair.

Arrays are ``(X, Y, Z)`` in RAS voxel order (x: left -> right, y: posterior -> anterior, z: inferior -> superior), the
order MONAI and NIfTI use; :func:`head_affine` gives the matching voxel -> world (RAS mm) affine. The anatomy is built
in millimetres over a fixed field of view, so any shape shows the same head at a different resolution.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from medtranslate.data.samples._common import check_shape, rng_for, smooth_field

__all__ = ["HEAD_TISSUES", "HEAD_FOV_MM", "head_spacing", "head_affine", "head_labels", "ct_head", "mr_head"]

#: (label, name, CT value in HU, T1-weighted MR value in arbitrary units). Cortical bone is bright on CT and dark on
#: T1; the fatty marrow of the diploe is bright on T1; white matter is brighter than grey matter on T1 and slightly
#: darker on CT; CSF is dark on T1 and near water on CT.
HEAD_TISSUES: tuple[tuple[int, str, float, float], ...] = (
    (0, "air", -1000.0, 0.0),
    (1, "soft tissue", 40.0, 350.0),
    (2, "fat", -100.0, 900.0),
    (3, "cortical bone", 1300.0, 40.0),
    (4, "marrow", 600.0, 650.0),
    (5, "csf", 8.0, 120.0),
    (6, "grey matter", 38.0, 480.0),
    (7, "white matter", 28.0, 720.0),
)
#: Field of view (x, y, z) in millimetres that every phantom covers, whatever its shape.
HEAD_FOV_MM: tuple[float, float, float] = (220.0, 240.0, 200.0)
AIR, SOFT, FAT, BONE, MARROW, CSF, GM, WM = range(8)


def head_spacing(shape: Sequence[int]) -> tuple[float, float, float]:
    """Voxel size in millimetres of a phantom of ``shape``.

    Args:
        shape: (X, Y, Z).

    Returns:
        The spacing (mm) along x, y, z: the field of view divided by the shape.
    """
    return tuple(f / n for f, n in zip(HEAD_FOV_MM, shape))


def head_affine(shape: Sequence[int]) -> np.ndarray:
    """The voxel -> world (RAS, mm) affine of a phantom: axis-aligned, centred on the origin.

    Args:
        shape: (X, Y, Z).

    Returns:
        4x4 float64 affine.
    """
    sp = np.asarray(head_spacing(shape))
    aff = np.diag([*sp, 1.0])
    aff[:3, 3] = -sp * (np.asarray(shape, float) - 1) / 2.0
    return aff


def _ellipsoid(p: list[np.ndarray], centre: Sequence[float], semi: Sequence[float]) -> np.ndarray:
    return sum(((p[k] - centre[k]) / semi[k]) ** 2 for k in range(3))


def head_labels(shape: Sequence[int] = (64, 64, 32), seed: int = 0) -> np.ndarray:
    """The tissue map shared by :func:`ct_head` and :func:`mr_head` (labels of :data:`HEAD_TISSUES`).

    What it models: an ellipsoidal head (seed-dependent size and yaw) with scalp, subcutaneous fat, a skull of two
    cortical tables around fatty diploe, a CSF layer, a folded cortex (sulci filled with CSF) over white matter,
    lateral ventricles, a midline fissure, deep grey nuclei, a skull base below the brain, soft tissue of the face and
    neck under it, and two eyes in orbital fat.

    Args:
        shape: (X, Y, Z), each >= 16.
        seed: non-negative seed; the same seed gives the same anatomy.

    Returns:
        uint8 ``(X, Y, Z)`` label map.
    """
    shape = check_shape(shape, 3, 16, "head phantom")
    rng = rng_for(seed, 3, 0)
    sp = head_spacing(shape)
    axes = [(np.arange(n, dtype=np.float32) - (n - 1) / 2) * s for n, s in zip(shape, sp)]
    gx, gy, gz = np.meshgrid(*axes, indexing="ij")
    yaw = math.radians(rng.uniform(-5, 5))
    px = math.cos(yaw) * gx + math.sin(yaw) * gy
    py = -math.sin(yaw) * gx + math.cos(yaw) * gy
    p = [px, py, gz]

    centre = (rng.uniform(-3, 3), rng.uniform(-4, 4), -20.0 + rng.uniform(-4, 4))
    semi = (72.0 * rng.uniform(0.95, 1.05), 95.0 * rng.uniform(0.95, 1.05), 100.0 * rng.uniform(0.97, 1.03))
    rho = np.sqrt(_ellipsoid(p, centre, semi))
    radial = np.sqrt(sum((p[k] - centre[k]) ** 2 for k in range(3)))
    depth = radial * (1.0 / np.maximum(rho, 1e-6) - 1.0)  # mm under the skin, along the ray from the centre

    field_sigma = [8.0 / s for s in sp]  # smooth variations over ~1 cm
    skin = 3.5
    fat = skin + 3.0 * smooth_field(rng, shape, field_sigma, 0.7, 1.3)
    bone = fat + 7.0 * smooth_field(rng, shape, field_sigma, 0.8, 1.2)
    table = 0.28 * (bone - fat)
    csf = bone + 2.5
    folds = np.abs(smooth_field(rng, shape, [5.0 / s for s in sp], 0.0, 1.0) - 0.5)  # sulci along the 0.5 level set

    labels = np.full(shape, AIR, np.uint8)
    labels[depth >= 0] = SOFT
    labels[depth >= skin] = FAT
    labels[depth >= fat] = BONE
    labels[(depth >= fat + table) & (depth < bone - table)] = MARROW
    labels[depth >= bone] = CSF
    labels[depth >= csf] = WM
    labels[(depth >= csf) & ((depth < csf + 3.0) | ((folds < 0.14) & (depth < csf + 17.0)))] = GM  # cortex ribbon
    labels[(depth >= csf) & (folds < 0.035) & (depth < csf + 14.0)] = CSF  # sulci, lined with grey matter

    base = centre[2] - 0.25 * semi[2]  # skull base: the brain sits above it
    below = (gz < base) & (depth >= fat)
    labels[below] = SOFT
    labels[below & (gz >= base - 6.0)] = BONE
    brain = labels >= CSF
    bc = (centre[0], centre[1] - 5.0, base + 0.45 * (semi[2] + centre[2] - base))  # centre of the brain
    labels[brain & (_ellipsoid(p, (bc[0] + 20, bc[1], bc[2] - 8), (8, 15, 10)) < 1)] = GM  # deep grey nuclei
    labels[brain & (_ellipsoid(p, (bc[0] - 20, bc[1], bc[2] - 8), (8, 15, 10)) < 1)] = GM
    vent = rng.uniform(0.85, 1.2)
    for side in (-1, 1):
        labels[brain & (_ellipsoid(p, (bc[0] + side * 9, bc[1] + 5, bc[2]), (5 * vent, 24, 8 * vent)) < 1)] = CSF
    labels[brain & (np.abs(p[0] - bc[0]) < 1.2) & (gz > bc[2] + 8)] = CSF  # interhemispheric fissure
    for side in (-1, 1):  # eyes in orbital fat, in front of the skull base
        eye = _ellipsoid(p, (centre[0] + side * 32, centre[1] + semi[1] - 30, base - 10), (12, 12, 12))
        orbit = _ellipsoid(p, (centre[0] + side * 32, centre[1] + semi[1] - 30, base - 10), (16, 16, 16))
        labels[(orbit < 1) & (depth >= skin)] = FAT
        labels[(eye < 1) & (depth >= skin)] = CSF
    return labels


def _render(labels: np.ndarray, column: int, seed_offset: np.ndarray) -> np.ndarray:
    values = np.array([t[column] for t in HEAD_TISSUES], np.float32) + seed_offset
    return ndimage.gaussian_filter(values[labels], 0.5)  # partial volume at tissue borders


def ct_head(shape: Sequence[int] = (64, 64, 32), seed: int = 0) -> np.ndarray:
    """A head CT in Hounsfield units: air -1000, skull about +1000 (cortical tables ~1300, diploe ~600), grey matter
    ~38, white matter ~28, CSF ~8, fat -100, with partial volume at borders and 4 HU of quantum noise.

    Args:
        shape: (X, Y, Z), each >= 16.
        seed: non-negative seed; :func:`mr_head` with the same seed shows the same anatomy.

    Returns:
        float32 ``(X, Y, Z)`` in HU, within [-1024, 3071].
    """
    labels = head_labels(shape, seed)
    rng = rng_for(seed, 3, 1)
    offset = rng.normal(0, 1.5, len(HEAD_TISSUES)).astype(np.float32)
    offset[AIR] = 0.0
    ct = _render(labels, 2, offset) + rng.normal(0.0, 4.0, labels.shape)
    return np.clip(ct, -1024, 3071).astype(np.float32)


def mr_head(shape: Sequence[int] = (64, 64, 32), seed: int = 0) -> np.ndarray:
    """A T1-weighted head MR in arbitrary units (no HU): white matter brighter than grey matter, dark CSF and
    cortical bone, bright fat and marrow, a smooth receive-coil bias field and Rician noise.

    Args:
        shape: (X, Y, Z), each >= 16.
        seed: non-negative seed; :func:`ct_head` with the same seed shows the same anatomy.

    Returns:
        float32 ``(X, Y, Z)``, non-negative.
    """
    labels = head_labels(shape, seed)
    rng = rng_for(seed, 3, 2)
    offset = rng.normal(0, 15.0, len(HEAD_TISSUES)).astype(np.float32)
    offset[AIR] = 0.0
    bias = smooth_field(rng, labels.shape, [s / 3.0 for s in labels.shape], 0.88, 1.12)
    signal = _render(labels, 3, offset) * bias
    sigma = 12.0
    mr = np.hypot(signal + rng.normal(0, sigma, labels.shape), rng.normal(0, sigma, labels.shape))  # Rician
    return mr.astype(np.float32)
