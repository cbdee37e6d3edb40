"""Plausibility checks shared by every reader, and the one place loaded arrays become MetaTensors."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from medtranslate.errors import InputError

if TYPE_CHECKING:
    from monai.data import MetaTensor

__all__ = ["check_values", "check_affine", "to_metatensor", "affine_spacing"]

logger = logging.getLogger(__name__)


def check_values(array: np.ndarray, path: str | os.PathLike) -> None:
    """Refuse empty arrays and arrays without a single finite value; log a note when some values are not finite.

    Args:
        array: the image data (any layout).
        path: the file named in the error.

    Raises:
        InputError: when the image has no voxels or no finite voxel.
    """
    if array.size == 0 or 0 in array.shape:
        raise InputError(path, f"holds an empty image (shape {tuple(array.shape)})")
    if np.issubdtype(array.dtype, np.floating):
        finite = np.isfinite(array)
        if not finite.any():
            raise InputError(path, "holds no finite value (the whole image is NaN or infinite)")
        bad = array.size - int(finite.sum())
        if bad:
            logger.warning("%s: %d of %d voxels are NaN or infinite", os.fspath(path), bad, array.size)


def check_affine(affine: np.ndarray, path: str | os.PathLike) -> np.ndarray:
    """Return ``affine`` as a float64 4x4 array, refusing non-finite or degenerate (singular) geometry.

    Args:
        affine: a 4x4 (or 3x3 for 2D) voxel-to-world matrix.
        path: the file named in the error.

    Raises:
        InputError: when the matrix has NaN/inf entries or a zero-length / collinear axis.
    """
    a = np.asarray(affine, dtype=np.float64)
    if a.shape == (3, 3):  # 2D homogeneous matrix -> 4x4 with a unit third axis
        a = np.array([[a[0, 0], a[0, 1], 0, a[0, 2]], [a[1, 0], a[1, 1], 0, a[1, 2]], [0, 0, 1, 0], [0, 0, 0, 1]])
    if a.shape != (4, 4) or not np.isfinite(a).all():
        raise InputError(path, f"has an invalid voxel-to-world matrix (shape {a.shape} or non-finite entries)")
    if abs(np.linalg.det(a[:3, :3])) < 1e-12:
        raise InputError(path, "has a degenerate voxel-to-world matrix (zero voxel size or collinear axes)")
    return a


def affine_spacing(affine: np.ndarray, spatial_ndim: int) -> np.ndarray:
    """Voxel size along each array axis (the length of the affine's first ``spatial_ndim`` columns), in mm.

    Args:
        affine: a 4x4 voxel-to-world matrix.
        spatial_ndim: 2 or 3.
    """
    return np.linalg.norm(np.asarray(affine, dtype=np.float64)[:3, :spatial_ndim], axis=0)


def to_metatensor(
    array: np.ndarray,
    affine: np.ndarray,
    path: str | os.PathLike,
    fmt: str,
    meta: dict[str, Any] | None = None,
) -> MetaTensor:
    """Check a channel-first array and its geometry, then wrap both in a MONAI MetaTensor.

    Args:
        array: channel-first data ``(C, X, Y[, Z])``; integer dtypes are kept (unsigned 16/32-bit widen to int32/int64,
            which torch can compute with), other floats become float32.
        affine: 4x4 voxel-index -> RAS mm matrix.
        path: the source, stored as ``meta["filename_or_obj"]`` and named in errors.
        fmt: the source format, stored as ``meta["mt_format"]``.
        meta: extra metadata entries (``mt_dicom`` and the like).

    Returns:
        The MetaTensor with ``affine``, ``original_affine``, ``spacing``, ``spatial_shape``, ``space`` = ``"RAS"``,
        ``original_channel_dim`` = 0, ``filename_or_obj`` and ``mt_format`` in its meta.

    Raises:
        InputError: for an unsupported number of dimensions, empty or all-non-finite data, or a degenerate affine.
    """
    import torch
    from monai.data import MetaTensor

    spatial_ndim = array.ndim - 1
    if spatial_ndim not in (2, 3):
        raise InputError(path, f"has {spatial_ndim} spatial dimensions (shape {tuple(array.shape)}); only 2D and 3D")
    check_values(array, path)
    affine = check_affine(affine, path)
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    elif array.dtype in (np.uint16, np.uint32, np.uint64):
        # torch lacks most operations (max, clamp) on unsigned 16/32-bit: widen losslessly to the next signed type
        array = array.astype(np.int32 if array.dtype == np.uint16 else np.int64)
    elif np.issubdtype(array.dtype, np.floating) and array.dtype != np.float32:
        array = array.astype(np.float32)
    elif not (np.issubdtype(array.dtype, np.integer) or array.dtype == np.float32):
        raise InputError(path, f"has an unsupported pixel type {array.dtype}")
    array = np.ascontiguousarray(array)
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    info: dict[str, Any] = {
        "filename_or_obj": os.fspath(path),
        "mt_format": fmt,
        "original_affine": affine.copy(),
        "spacing": affine_spacing(affine, spatial_ndim),
        "spatial_shape": np.asarray(array.shape[1:]),
        "space": "RAS",
        "original_channel_dim": 0,
    }
    if meta:
        info.update(meta)
    return MetaTensor(torch.from_numpy(array), affine=torch.from_numpy(affine), meta=info)
