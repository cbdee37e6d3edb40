"""NIfTI read (MONAI's NibabelReader) and write (nibabel), with channels in NIfTI's vector dimension 5."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import nibabel as nib
import numpy as np

from medtranslate.errors import InputError
from medtranslate.io.gzip_stream import ParallelGzipWriter
from medtranslate.io.validate import to_metatensor
from medtranslate.utils.atomic import atomic_path

if TYPE_CHECKING:
    from monai.data import MetaTensor

__all__ = ["load_nifti", "save_nifti"]

_VECTOR_INTENT = 1007  # NIFTI_INTENT_VECTOR: dimension 5 holds the components of each voxel


def _reason(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text[:200]


def load_nifti(path: Path) -> MetaTensor:
    """Read a NIfTI-1/2 file (``.nii``, ``.nii.gz``, ``.hdr``/``.img`` pair) as a channel-first MetaTensor.

    Layouts: ``(X, Y)``, ``(X, Y, Z)``, ``(X, Y, Z, 1)``, and ``(X, Y, Z, 1, C)`` (vector/RGB voxels, as written by
    :func:`save_nifti` and ITK) become ``(C, X, Y[, Z])``; RGB24/RGBA32 voxel types become 3/4 channels.

    Args:
        path: the file.

    Raises:
        InputError: unreadable or truncated file, a 4D series (several volumes), more than 5 dimensions.
    """
    from monai.data import NibabelReader  # reading only: this module also writes DICOM -> NIfTI, which avoids MONAI

    reader = NibabelReader()
    try:
        img = reader.read(os.fspath(path))
        data, meta = reader.get_data(img)
        data = np.array(data)  # reads everything now (a truncated .nii.gz fails here) and drops the memmap
    except Exception as e:  # noqa: BLE001 - nibabel/gzip/zlib raise many types for damaged files
        raise InputError(path, f"cannot be read as NIfTI ({_reason(e)})") from e
    if data.dtype.names:  # RGB24 / RGBA32 voxels: structured dtype with one field per colour
        data = np.stack([data[name] for name in data.dtype.names], axis=-1)
        data = data[..., None, :] if data.ndim == 4 else data  # (X, Y, Z, C) -> (X, Y, Z, 1, C)
        data = data[:, :, None, None, :] if data.ndim == 3 else data  # 2D (X, Y, C)
    if data.ndim == 4:
        if data.shape[3] != 1:
            raise InputError(
                path,
                f"is 4D with {data.shape[3]} volumes (shape {data.shape}); only 2D/3D images are supported "
                "(split the series first)",
            )
        data = data[..., 0]
    if data.ndim == 5:
        if data.shape[3] != 1:
            raise InputError(path, f"is a multi-volume vector image (shape {data.shape}); not supported")
        data = np.moveaxis(data[:, :, :, 0, :], -1, 0)
    elif data.ndim in (2, 3):
        data = data[None]
    else:
        raise InputError(path, f"has {data.ndim} dimensions (shape {data.shape}); not supported")
    descrip = np.asarray(meta.get("descrip", b"")).item()
    extra = {"mt_nifti_descrip": descrip.decode(errors="replace") if isinstance(descrip, bytes) else str(descrip)}
    return to_metatensor(data, np.asarray(meta["affine"]), path, "nifti", extra)


def save_nifti(array: np.ndarray, affine: np.ndarray, path: Path, descrip: str) -> Path:
    """Write a channel-first array as NIfTI-1 with qform = sform = ``affine`` (scanner space, mm).

    One channel is stored as ``(X, Y[, Z])``; several as ``(X, Y, Z, 1, C)`` with intent VECTOR, which ITK,
    3D Slicer and :func:`load_nifti` read as multi-component voxels (a 2D image keeps Z = 1).

    Args:
        array: ``(C, X, Y[, Z])`` in the dtype to store.
        affine: 4x4 voxel -> RAS mm.
        path: destination (``.nii`` or ``.nii.gz``); written atomically.
        descrip: the header description (cut to 79 bytes).

    Returns:
        The final path.
    """
    if array.shape[0] == 1:
        data = array[0]
    else:
        data = np.moveaxis(array, 0, -1)  # (X, Y[, Z], C)
        data = data[:, :, None, None, :] if array.ndim == 3 else data[:, :, :, None, :]
    # no contiguous copy: nibabel writes Fortran order slab by slab, straight from a Fortran-ordered array (DICOM)
    img = nib.Nifti1Image(data, affine, dtype=data.dtype)  # the stored type, int64 included (nibabel asks for it)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    header = img.header
    header.set_data_dtype(data.dtype)
    header.set_xyzt_units("mm", "sec")
    header["descrip"] = descrip.encode("ascii", errors="replace")[:79]
    if array.shape[0] > 1:
        header.set_intent(_VECTOR_INTENT)
    with atomic_path(path) as tmp:
        if tmp.name.lower().endswith(".gz"):  # deflated on several threads; the same bytes once decompressed
            with open(tmp, "wb") as raw, ParallelGzipWriter(raw, level=1) as stream:
                img.to_stream(stream)
        else:
            nib.save(img, os.fspath(tmp))
    return Path(path)
