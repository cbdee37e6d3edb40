"""``find_series``: every image file and every DICOM series under a root, as deterministic :class:`SeriesRef` items."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from medtranslate.errors import InputError
from medtranslate.io.dicom_read import load_dicom_files
from medtranslate.io.dicom_series import group_series, read_header, series_key
from medtranslate.io.formats import format_from_suffix, is_sidecar, looks_like_dicom, safe_key, split_suffix
from medtranslate.io.load import load_image

if TYPE_CHECKING:
    from monai.data import MetaTensor

__all__ = ["SeriesRef", "find_series"]


@dataclass(frozen=True)
class SeriesRef:
    """One loadable item found by :func:`find_series`.

    Args:
        key: deterministic, file-system-safe relative output stem (``"patient1/ct"``,
            ``"dicom/<PatientID>_<SeriesNumber>_<sha1(SeriesInstanceUID)[:8]>"``).
        kind: ``"nifti"``, ``"dicom"``, ``"nrrd"``, ``"mha"``, ``"tiff"``, ``"png"``, ``"jpeg"`` or ``"unknown"``.
        paths: the file(s) it is read from (all files of a DICOM series, sorted).
        series_uid: the SeriesInstanceUID of a DICOM series.
    """

    key: str
    kind: str
    paths: tuple[Path, ...]
    series_uid: str | None = None

    def load(self) -> MetaTensor:
        """Read the item (see :func:`medtranslate.io.load_image`).

        Raises:
            InputError: naming the file and the problem; ``"unknown"`` items always raise it.
        """
        if self.kind == "dicom":
            return load_dicom_files(self.paths, dicom_origin(self.paths))
        return load_image(self.paths[0])  # "unknown" items raise the precise reason (not an image, bad DICOM, ...)


def dicom_origin(paths: tuple[Path, ...]) -> Path:
    """The path a DICOM series is named by in errors and metadata: its file, or the folder common to its files.

    Args:
        paths: the series' files.
    """
    return paths[0] if len(paths) == 1 else Path(os.path.commonpath(paths))


def _walk(root: Path) -> list[Path]:
    out = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out.extend(Path(folder, f) for f in sorted(files))
    return out


def _file_key(path: Path, root: Path) -> str:
    rel = path.relative_to(root) if path != root else Path(path.name)
    stem, _ = split_suffix(rel.name)
    parts = [safe_key(p) for p in rel.parts[:-1]] + [safe_key(stem)]
    return "/".join(parts)


def _suffix_tag(path: Path) -> str:
    """What a clashing key gets appended: the image suffix with its dots as ``_`` (``a.nii.gz`` -> ``nii_gz``)."""
    return safe_key(split_suffix(path.name)[1].lstrip(".").replace(".", "_"), "file")


def find_series(root: str | os.PathLike) -> list[SeriesRef]:
    """List every image file and every DICOM series under ``root``, sorted by key.

    DICOM files (by suffix or preamble) are grouped by SeriesInstanceUID across folders. Files whose suffix is not
    an image format and that are not DICOM are returned as ``"unknown"`` items, so a batch can report them; hidden
    files, DICOMDIR and side-cars (``.json``, ``.txt``, ``.raw`` ...) are skipped. Two files whose keys would clash
    (``a.nii.gz`` and ``a.nrrd``) get their suffix appended, dots as ``_`` (``a_nii_gz``, ``a_nrrd``).

    Args:
        root: a file or a folder tree.

    Returns:
        The items, sorted by key.

    Raises:
        InputError: when ``root`` does not exist.
    """
    root = Path(root)
    if not root.exists():
        raise InputError(root, "does not exist")
    files = [root] if root.is_file() else _walk(root)
    base = root.parent if root.is_file() else root
    items: list[SeriesRef] = []
    headers = []
    for f in files:
        if f != root and is_sidecar(f):
            continue
        fmt = format_from_suffix(f)
        if fmt == "dicom" or (fmt is None and looks_like_dicom(f)):
            h = read_header(f)
            if h is not None:
                headers.append(h)
                continue
            fmt = "unknown"
        items.append(SeriesRef(key=_file_key(f, base), kind=fmt or "unknown", paths=(f,)))
    clashes = Counter(i.key for i in items)
    items = [
        SeriesRef(f"{i.key}_{_suffix_tag(i.paths[0])}", i.kind, i.paths) if clashes[i.key] > 1 else i for i in items
    ]
    for uid, hs in group_series(headers).items():
        real_uid = hs[0].series_uid
        items.append(SeriesRef(series_key(hs[0], uid), "dicom", tuple(h.path for h in hs), real_uid))
    return sorted(items, key=lambda i: (i.key, str(i.paths[0])))
