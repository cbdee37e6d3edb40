"""Which format a path holds, from its suffix (and, for suffix-less files, the DICOM preamble).

Kept free of heavy imports: :func:`medtranslate.io.find_series` walks whole trees with these helpers.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "READ_SUFFIXES",
    "WRITE_SUFFIXES",
    "SIDECAR_SUFFIXES",
    "format_from_suffix",
    "write_format",
    "split_suffix",
    "is_sidecar",
    "looks_like_dicom",
    "safe_key",
    "READERS",
    "WRITERS",
    "format_handler",
]

#: lower-case suffix -> format name, for reading. Longest suffixes first so ``.nii.gz`` wins over ``.gz``.
READ_SUFFIXES: dict[str, str] = {
    ".nii.gz": "nifti",
    ".nii": "nifti",
    ".hdr": "nifti",  # NIfTI/Analyze pair (.hdr + .img)
    ".dcm": "dicom",
    ".dicom": "dicom",
    ".ima": "dicom",
    ".nrrd": "nrrd",
    ".nhdr": "nrrd",
    ".mha": "mha",
    ".mhd": "mha",
    ".ome.tiff": "tiff",
    ".ome.tif": "tiff",
    ".tiff": "tiff",
    ".tif": "tiff",
    ".png": "png",
    ".jpeg": "jpeg",
    ".jpg": "jpeg",
}

#: lower-case suffix -> format name, for writing (``fmt=None`` in :func:`medtranslate.io.save_image`).
WRITE_SUFFIXES: dict[str, str] = {
    ".nii.gz": "nifti",
    ".nii": "nifti",
    ".nrrd": "nrrd",
    ".mha": "mha",
    ".tiff": "tiff",
    ".tif": "tiff",
    ".png": "png",
    ".jpeg": "jpeg",
    ".jpg": "jpeg",
}

#: files that accompany images but are not images; tree discovery skips them instead of reporting them.
SIDECAR_SUFFIXES = frozenset(
    {".json", ".txt", ".md", ".csv", ".tsv", ".bval", ".bvec", ".xml", ".html", ".log", ".raw", ".raw.gz", ".zraw"}
)
_SIDECAR_NAMES = frozenset({"dicomdir", "thumbs.db", "desktop.ini", "license", "readme"})

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def split_suffix(name: str, table: dict[str, str] = READ_SUFFIXES) -> tuple[str, str]:
    """Split a file name into (stem, known suffix); the suffix is ``""`` when the name has none from ``table``.

    Args:
        name: a file name (not a path).
        table: the suffix table to match against (case-insensitive).

    Returns:
        The stem and the suffix exactly as spelled in ``name``.
    """
    low = name.lower()
    for suffix in sorted(table, key=len, reverse=True):
        if low.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], name[-len(suffix) :]
    return name, ""


def format_from_suffix(path: str | os.PathLike) -> str | None:
    """The format a file's suffix names (``"nifti"``, ``"dicom"``, ...), or ``None`` when the suffix is not known.

    Args:
        path: the file path.
    """
    _, suffix = split_suffix(Path(path).name)
    return READ_SUFFIXES.get(suffix.lower()) if suffix else None


def write_format(path: str | os.PathLike, fmt: str | None) -> str | None:
    """The format to write ``path`` in: ``fmt`` when given, else the one its suffix names (``None`` if unknown).

    Args:
        path: the destination.
        fmt: an explicit format name, or ``None``.
    """
    if fmt:
        return fmt.lower()
    _, suffix = split_suffix(Path(path).name, WRITE_SUFFIXES)
    return WRITE_SUFFIXES.get(suffix.lower()) if suffix else None


def is_sidecar(path: Path) -> bool:
    """Whether discovery should skip ``path`` silently (hidden files, JSON/text sidecars, DICOMDIR, raw data parts).

    Args:
        path: a file path.
    """
    name = path.name
    if name.startswith("."):
        return True
    if name.lower() in _SIDECAR_NAMES:
        return True
    low = name.lower()
    if low.endswith(".img") and path.with_suffix(".hdr").exists():  # the data half of an Analyze/NIfTI pair
        return True
    return any(low.endswith(s) for s in SIDECAR_SUFFIXES)


def looks_like_dicom(path: str | os.PathLike) -> bool:
    """Whether a file starts like a DICOM Part 10 file (128-byte preamble then ``DICM``).

    Args:
        path: the file path.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:] == b"DICM"


def safe_key(text: str, fallback: str = "x") -> str:
    """Make one file-name-safe key component (letters, digits, ``._-``; no leading dot).

    Args:
        text: any text (a patient ID, a file stem).
        fallback: what to use when nothing safe remains.
    """
    out = _UNSAFE.sub("_", text.strip()).strip("_").lstrip(".")
    return out or fallback


#: format -> ``"module:function"`` of its reader. A format's module is imported when that format is first read or
#: written, so that each conversion loads only its own libraries (DICOM -> NIfTI: NumPy, pydicom and nibabel; no
#: torch or MONAI). DICOM is read and written by :mod:`medtranslate.io.dicom_read` / ``dicom_write`` directly.
READERS: dict[str, str] = {
    "nifti": "medtranslate.io.nifti:load_nifti",
    "nrrd": "medtranslate.io.itk_io:load_itk",
    "mha": "medtranslate.io.itk_io:load_itk",
    "tiff": "medtranslate.io.tiff:load_tiff",
    "png": "medtranslate.io.raster:load_raster",
    "jpeg": "medtranslate.io.raster:load_raster",
}
#: format -> ``"module:function"`` of its writer (see :data:`READERS`).
WRITERS: dict[str, str] = {
    "nifti": "medtranslate.io.nifti:save_nifti",
    "nrrd": "medtranslate.io.itk_io:save_itk",
    "mha": "medtranslate.io.itk_io:save_itk",
    "tiff": "medtranslate.io.tiff:save_tiff",
    "png": "medtranslate.io.raster:save_raster",
    "jpeg": "medtranslate.io.raster:save_raster",
}


def format_handler(table: dict[str, str], fmt: str) -> Callable[..., Any]:
    """The reader or writer of ``fmt`` in ``table`` (:data:`READERS` or :data:`WRITERS`), importing its module.

    Args:
        table: the handler table.
        fmt: the format name.

    Raises:
        KeyError: for a format the table does not hold.
    """
    module, _, name = table[fmt].partition(":")
    return getattr(importlib.import_module(module), name)
