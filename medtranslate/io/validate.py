"""Plausibility checks shared by every reader, and the one place loaded arrays become MetaTensors."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from medtranslate.errors import InputError

if TYPE_CHECKING:
    from monai.data import MetaTensor

__all__ = ["check_values", "check_affine", "to_metatensor", "affine_spacing", "ArrayImage", "checked_image"]

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


@dataclass
class ArrayImage:
    """A checked channel-first image held as NumPy, before (or instead of) becoming a MetaTensor.

    Readers build one with :func:`checked_image`; :func:`medtranslate.io.save_image` accepts it like a MetaTensor
    (``np.asarray`` gives the data, ``affine`` and ``meta`` the geometry), so a conversion never needs torch or MONAI.

    Args:
        array: ``(C, X, Y[, Z])`` data; any strides (a DICOM volume is a transposed view: NIfTI's Fortran order).
        affine: 4x4 float64 voxel-index -> RAS mm matrix.
        meta: the metadata :func:`to_metatensor` stores (``filename_or_obj``, ``mt_format``, ``spacing``, ...).
    """

    array: np.ndarray
    affine: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        """The array shape ``(C, X, Y[, Z])``."""
        return tuple(self.array.shape)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """The data as an ndarray (no copy unless ``dtype`` or ``copy`` asks for one).

        Args:
            dtype: an optional target dtype.
            copy: ``True`` forces a copy.
        """
        out = self.array if dtype is None else self.array.astype(dtype, copy=False)
        return out.copy() if copy else out

    def to_metatensor(self) -> MetaTensor:
        """The image as a C-contiguous MONAI MetaTensor (``meta["affine"]`` set from :attr:`affine`).

        C order is what MONAI's own loaders return (``convert_to_tensor`` makes arrays contiguous), so tensors from
        :func:`medtranslate.io.load_image` support ``view`` like any other; conversions skip this copy.
        """
        # function-local on purpose: ArrayImage is the NumPy path of DICOM conversions, which never import torch
        import torch
        from monai.data import MetaTensor

        array = np.ascontiguousarray(self.array)
        return MetaTensor(torch.from_numpy(array), affine=torch.from_numpy(self.affine.copy()), meta=dict(self.meta))


def checked_image(
    array: np.ndarray,
    affine: np.ndarray,
    path: str | os.PathLike,
    fmt: str,
    meta: dict[str, Any] | None = None,
) -> ArrayImage:
    """Check a channel-first array and its geometry and normalise its dtype, without torch (see :func:`to_metatensor`).

    Args:
        array: channel-first data ``(C, X, Y[, Z])``; integer dtypes are kept (unsigned 16/32-bit widen to int32/int64,
            which torch can compute with), other floats become float32. Its memory layout is kept (no copy).
        affine: 4x4 voxel-index -> RAS mm matrix.
        path: the source, stored as ``meta["filename_or_obj"]`` and named in errors.
        fmt: the source format, stored as ``meta["mt_format"]``.
        meta: extra metadata entries (``mt_dicom`` and the like).

    Returns:
        The :class:`ArrayImage`, its meta holding ``original_affine``, ``spacing``, ``spatial_shape``, ``space`` =
        ``"RAS"``, ``original_channel_dim`` = 0, ``filename_or_obj`` and ``mt_format``.

    Raises:
        InputError: for an unsupported number of dimensions, empty or all-non-finite data, or a degenerate affine.
    """
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
    return ArrayImage(array, affine, info)


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
        The C-contiguous MetaTensor with ``affine``, ``original_affine``, ``spacing``, ``spatial_shape``, ``space`` =
        ``"RAS"``, ``original_channel_dim`` = 0, ``filename_or_obj`` and ``mt_format`` in its meta.

    Raises:
        InputError: for an unsupported number of dimensions, empty or all-non-finite data, or a degenerate affine.
    """
    return checked_image(array, affine, path, fmt, meta).to_metatensor()
