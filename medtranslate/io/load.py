"""``load_image``: one entry point that picks the reader from the suffix (or the DICOM preamble)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from medtranslate.errors import InputError
from medtranslate.io.dicom_read import load_dicom_files, load_dicom_folder
from medtranslate.io.formats import READERS, format_from_suffix, format_handler, looks_like_dicom

if TYPE_CHECKING:
    from monai.data import MetaTensor

__all__ = ["load_image", "detect_format"]

_KNOWN = "NIfTI, DICOM, NRRD, MetaImage, TIFF, PNG, JPEG"


def detect_format(path: str | os.PathLike) -> str | None:
    """The format of a file: from its suffix, else ``"dicom"`` when it has the DICOM preamble, else ``None``.

    Args:
        path: the file.
    """
    fmt = format_from_suffix(path)
    if fmt is None and looks_like_dicom(path):
        return "dicom"
    return fmt


def load_image(path: str | os.PathLike, *, series_uid: str | None = None) -> MetaTensor:
    """Read an image file or a DICOM folder as a channel-first MetaTensor.

    The result is ``(C, X, Y[, Z])``: float32 unless the source stores integers (their type is kept; CT stays in HU
    after RescaleSlope/Intercept); ``meta["affine"]`` maps voxel indices to RAS millimetres; ``meta["spacing"]``,
    ``meta["filename_or_obj"]`` and ``meta["mt_format"]`` are set, and DICOM adds ``meta["mt_dicom"]``.

    Args:
        path: a NIfTI, NRRD, MetaImage, TIFF, PNG, JPEG or DICOM file, or a folder of DICOM files.
        series_uid: for a DICOM folder holding several series, the SeriesInstanceUID to read.

    Returns:
        The image.

    Raises:
        InputError: naming the file and the problem, for anything missing, unreadable or implausible.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(p, "does not exist")
    if p.is_dir():
        return load_dicom_folder(p, series_uid)
    try:
        empty = p.stat().st_size == 0
    except OSError as e:
        raise InputError(p, f"cannot be read ({e.strerror or e})") from e
    if empty:
        raise InputError(p, "is an empty file")
    fmt = detect_format(p)
    if fmt is None:
        raise InputError(p, f"is not an image file medtranslate can read (known formats: {_KNOWN})")
    if series_uid is not None and fmt != "dicom":
        raise InputError(p, "series_uid applies to DICOM only")
    if fmt == "dicom":
        img = load_dicom_files([p], p)
        found = img.meta["mt_dicom"].get("SeriesInstanceUID")
        if series_uid is not None and found != series_uid:
            raise InputError(p, f"belongs to series {found}, not {series_uid}")
        return img
    if fmt in ("nrrd", "mha", "png", "jpeg"):
        return format_handler(READERS, fmt)(p, fmt)
    return format_handler(READERS, fmt)(p)
