"""``save_image``: write a channel-first image in the format its suffix (or ``fmt``) names, atomically."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from medtranslate.errors import OutputError
from medtranslate.io.dicom_write import save_dicom, series_description
from medtranslate.io.formats import WRITERS, format_handler, write_format

if TYPE_CHECKING:
    import torch
    from monai.data import MetaTensor

    from medtranslate.io.validate import ArrayImage

__all__ = ["save_image", "WRITABLE"]

#: formats :func:`save_image` writes.
WRITABLE = ("nifti", "dicom", "nrrd", "mha", "tiff", "png", "jpeg")


def _affine_4x4(affine: Any) -> np.ndarray | None:
    a = np.asarray(affine.detach().cpu() if hasattr(affine, "detach") else affine, dtype=np.float64)
    if a.shape == (3, 3):
        a = np.array([[a[0, 0], a[0, 1], 0, a[0, 2]], [a[1, 0], a[1, 1], 0, a[1, 2]], [0, 0, 1, 0], [0, 0, 0, 1]])
    return a if a.shape == (4, 4) else None


def _unpack(img: Any, reference: Any, path: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    """(array, affine, meta) from a MetaTensor / tensor / ndarray; geometry from its meta, else the reference."""
    meta: dict = dict(getattr(img, "meta", {}) or {})
    if hasattr(img, "detach"):
        t = img.detach().cpu()
        t = t.as_tensor() if hasattr(t, "as_tensor") else t
        half = t.dtype.is_floating_point and t.element_size() == 2  # float16 / bfloat16: NumPy has no bfloat16
        array = (t.float() if half else t).numpy()
    else:
        array = np.asarray(img)
    affine = _affine_4x4(img.affine) if hasattr(img, "affine") else None
    if affine is not None and str(meta.get("space", "RAS")).upper() == "LPS":  # e.g. LoadImage(affine_lps_to_ras=False)
        affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine
    if affine is None and reference is not None and hasattr(reference, "affine"):
        if tuple(getattr(reference, "shape", ())[1:]) == tuple(array.shape[1:]):
            affine = _affine_4x4(reference.affine)
    if affine is None:
        affine = np.eye(4)
    if not np.isfinite(affine).all() or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise OutputError(path, "the image's affine is degenerate or not finite; cannot write its geometry")
    return array, affine, meta


def _storage(array: np.ndarray) -> np.ndarray:
    """float64/float16 -> float32, bool -> uint8, int64 -> int32 or else uint32 when it fits; other types kept.

    64-bit integers come from widened uint32 pixels (32-bit DICOM): they go back to uint32, which every output format
    but PNG/JPEG/DICOM stores, instead of int64, which few tools read.
    """
    if array.dtype == np.bool_:
        return array.astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        return array.astype(np.float32, copy=False)
    if array.dtype in (np.int64, np.uint64) and array.size:
        lo, hi = array.min(), array.max()
        for dtype in (np.int32, np.uint32):
            if np.iinfo(dtype).min <= lo and hi <= np.iinfo(dtype).max:
                return array.astype(dtype)
    return array


def save_image(
    img: MetaTensor | ArrayImage | torch.Tensor | np.ndarray,
    path: str | os.PathLike,
    *,
    fmt: str | None = None,
    reference: MetaTensor | ArrayImage | None = None,
    anonymize: bool = False,
    synthetic: bool = False,
    description: str | None = None,
    modality: str | None = None,
) -> Path:
    """Write a channel-first image ``(C, X, Y[, Z])`` keeping its geometry; C = 3 is RGB.

    DICOM, PNG and JPEG take C = 1 or 3; NIfTI, TIFF, NRRD and MetaImage take any number of channels (confocal
    stacks with 2 or 4 channels).

    Args:
        img: the image; geometry from ``img.meta["affine"]`` (a plain tensor/array takes the reference's affine when
            the spatial shapes match, else identity); an :class:`~medtranslate.io.validate.ArrayImage` (NumPy, from
            the converters) is taken like a MetaTensor.
        path: the destination file, or the folder to create for ``fmt="dicom"``.
        fmt: ``"nifti"``, ``"dicom"``, ``"nrrd"``, ``"mha"``, ``"tiff"``, ``"png"`` or ``"jpeg"``; ``None`` picks from
            the suffix (``.nii``/``.nii.gz``, ``.nrrd``, ``.mha``, ``.tif``/``.tiff``, ``.png``, ``.jpg``/``.jpeg``).
        reference: the source image; its ``meta["mt_dicom"]`` gives DICOM identity, study and series references
            (default: ``img``'s own ``mt_dicom``).
        anonymize: DICOM: replace patient identity, dates and UIDs, and drop references to the source instances.
        synthetic: a model made the image: DICOM SeriesDescription / NIfTI descrip start with ``"SYNTHETIC"``.
        description: free text added to those descriptions (e.g. the model name).
        modality: DICOM output Modality (e.g. ``"MR"`` for a CT->MR model); default: the source's for conversions,
            ``"OT"`` (Secondary Capture) for synthetic images.

    Returns:
        The final path.

    Raises:
        OutputError: unknown format, unsupported shape, C not 1/3 for DICOM/PNG/JPEG, 3D to PNG/JPEG, values
            DICOM cannot store, or a destination that cannot be written.
    """
    path = Path(path)
    kind = write_format(path, fmt)
    if kind not in WRITABLE:
        raise OutputError(
            path,
            f"unknown output format {kind or path.suffix or '(no suffix)'}; use .nii.gz, .nii, .nrrd, .mha, "
            ".tif, .png, .jpg, or fmt='dicom'",
        )
    array, affine, meta = _unpack(img, reference, path)
    if array.ndim not in (3, 4) or array.shape[0] < 1:
        raise OutputError(path, f"cannot save shape {tuple(array.shape)}: expected channel-first (C, X, Y[, Z])")
    if kind in ("dicom", "png", "jpeg") and array.shape[0] not in (1, 3):
        raise OutputError(path, f"{kind.upper()} stores 1 (grayscale) or 3 (RGB) channels, not {array.shape[0]}")
    array = _storage(array)
    ref_meta = dict(getattr(reference, "meta", {}) or {}) if reference is not None else meta
    source = dict(ref_meta.get("mt_dicom") or meta.get("mt_dicom") or {})
    if kind == "dicom":
        return save_dicom(
            array,
            affine,
            path,
            source=source,
            anonymize=anonymize,
            synthetic=synthetic,
            description=description,
            modality=modality,
        )
    if kind == "nifti":
        descrip = series_description(synthetic, description, source.get("SeriesDescription"), limit=79)
        return format_handler(WRITERS, kind)(array, affine, path, descrip)
    if kind in ("png", "jpeg"):
        text = {"Description": series_description(True, description, None, limit=200)} if synthetic else None
        return format_handler(WRITERS, kind)(array, path, kind, text)
    return format_handler(WRITERS, kind)(array, affine, path)
