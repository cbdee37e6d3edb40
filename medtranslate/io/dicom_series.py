"""DICOM discovery and geometry: read headers, group files by SeriesInstanceUID, sort slices along the normal.

MONAI's PydicomReader sorts slices by InstanceNumber, keeps one series per folder and derives the slice spacing from
the z coordinate only, and its ITKReader (GDCM) reports no inconsistent spacing; so series assembly is done here, in
patient space, with every plausibility check stated as one :class:`~medtranslate.errors.InputError`.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom

from medtranslate.errors import InputError
from medtranslate.io.formats import safe_key

__all__ = [
    "IDENTITY_TAGS",
    "DicomHeader",
    "Plane",
    "read_header",
    "take_dataset",
    "keep_parsed_headers",
    "PIXEL_TAGS",
    "clear_dataset_cache",
    "group_series",
    "series_key",
    "describe_series",
    "floats",
    "pixel_spacing",
    "quiet_pydicom",
    "parse_dicom",
    "plane_geometry",
    "LPS_TO_RAS",
]

logger = logging.getLogger(__name__)

#: identity / provenance tags copied into ``meta["mt_dicom"]`` (as strings) when present.
IDENTITY_TAGS: tuple[str, ...] = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "StudyDescription",
    "AccessionNumber",
    "ReferringPhysicianName",
    "SeriesInstanceUID",
    "SeriesNumber",
    "SeriesDescription",
    "Modality",
    "FrameOfReferenceUID",
    "Manufacturer",
    "BodyPartExamined",
    "PatientPosition",
    "SOPClassUID",
)

#: DICOM patient space is LPS; MONAI's and NIfTI's world is RAS.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])

#: the elements that hold an image's pixels.
PIXEL_TAGS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_DICOMDIR_CLASS = "1.2.840.10008.1.3.10"
_DEFER_BYTES = 2048  # values longer than this (pixel data, vendor blobs) stay on disk until they are accessed

#: at most this many parsed headers wait for the loader (about 20-100 KiB each, the pixel data is not held)
DATASET_CACHE_SIZE = 1024
_datasets: OrderedDict[str, tuple[tuple[int, int], object]] = OrderedDict()
_keeping = 0  # how many keep_parsed_headers() blocks are open


@contextlib.contextmanager
def keep_parsed_headers() -> Iterator[None]:
    """Inside this block :func:`read_header` keeps the headers it parses for :func:`take_dataset`; on exit they go.

    Loading right after discovery (``convert``, ``load_image`` of a folder) then parses each file once. Outside such
    a block nothing is kept, so a program that only lists series holds no headers. Blocks may nest.
    """
    global _keeping
    _keeping += 1
    try:
        yield
    finally:
        _keeping -= 1
        if not _keeping:
            _datasets.clear()


def _signature(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def take_dataset(path: str | os.PathLike):
    """Hand over the header that :func:`read_header` parsed for ``path``, so that loading does not parse it again.

    The dataset is removed from the cache (the loader consumes it: it drops the raw pixel bytes once decoded); its
    pixel data is read from the file when first accessed (pydicom's deferred read).

    Args:
        path: the file.

    Returns:
        The pydicom Dataset, or ``None`` when it is not cached or the file changed (modification time or size) since.
    """
    key = os.path.abspath(path)
    entry = _datasets.pop(key, None)
    if entry is None or entry[0] != _signature(key):
        return None
    return entry[1]


def clear_dataset_cache() -> None:
    """Forget every header :func:`read_header` kept for the loader (a caller that will not load them in-process)."""
    _datasets.clear()


def _keep(path: str | os.PathLike, signature: tuple[int, int] | None, ds) -> None:
    if signature is None or DATASET_CACHE_SIZE <= 0 or not _keeping:
        return
    key = os.path.abspath(path)
    _datasets[key] = (signature, ds)
    _datasets.move_to_end(key)
    while len(_datasets) > DATASET_CACHE_SIZE:
        _datasets.popitem(last=False)


@contextlib.contextmanager
def quiet_pydicom() -> Iterator[list[warnings.WarningMessage]]:
    """Hold back pydicom's log records and warnings for the duration of the block; yield the warnings caught.

    pydicom logs a decoder failure with its traceback and warns (and logs) about damaged files, several times per file;
    medtranslate reports each problem as one line instead (an :class:`~medtranslate.errors.InputError`). What is held
    back goes to this module's debug log.
    """
    pydicom_logger = logging.getLogger("pydicom")
    level = pydicom_logger.level
    pydicom_logger.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield caught
    finally:
        pydicom_logger.setLevel(level)
        for w in caught:
            logger.debug("pydicom: %s", w.message)


def parse_dicom(path: str | os.PathLike, defer_size: int | None = None) -> tuple[object, str | None]:
    """Parse a DICOM file with pydicom (forced, quietly), saying whether it ended before its last element was complete.

    Args:
        path: the file.
        defer_size: values longer than this many bytes stay on disk until accessed (``None``: read everything).

    Returns:
        ``(dataset, truncation)``: ``truncation`` is pydicom's note when the file ends inside an element (a truncated
        or cut-off file), else ``None``.

    Raises:
        Exception: whatever pydicom raises for a file it cannot parse at all.
    """
    with quiet_pydicom() as caught:
        ds = pydicom.dcmread(path, defer_size=defer_size, force=True)
    notes = [str(w.message) for w in caught if "end of file" in str(w.message).lower()]
    return ds, (notes[0] if notes else None)


@dataclass(frozen=True)
class DicomHeader:
    """What discovery needs from one DICOM file.

    Args:
        path: the file.
        series_uid: its SeriesInstanceUID (``None`` when missing: the file then forms a series of its own).
        patient_id: PatientID (may be empty).
        series_number: SeriesNumber as text (may be empty).
        modality: Modality (may be empty).
        description: SeriesDescription (may be empty).
        is_index: the file is a DICOMDIR index (no image; discovery skips it).
    """

    path: Path
    series_uid: str | None
    patient_id: str = ""
    series_number: str = ""
    modality: str = ""
    description: str = ""
    is_index: bool = False


def read_header(path: Path) -> DicomHeader | None:
    """Read the discovery tags of one file (the pixel data stays on disk).

    The whole header is parsed (it costs what parsing a few tags costs: pydicom walks every element either way) and,
    for an image inside a :func:`keep_parsed_headers` block, kept for :func:`take_dataset` (the last
    :data:`DATASET_CACHE_SIZE` of them), so that loading the
    series right after discovery does not parse every file twice.

    Args:
        path: a file believed to be DICOM.

    Returns:
        The header (``is_index`` set for a DICOMDIR), or ``None`` when the file is not readable DICOM.
    """
    signature = _signature(os.fspath(path))
    try:
        ds, truncated = parse_dicom(path, _DEFER_BYTES)
    except Exception:  # noqa: BLE001 - any parse failure means "not readable DICOM" here; load() reports it
        return None
    meta_class = str(getattr(getattr(ds, "file_meta", None), "MediaStorageSOPClassUID", "") or "")
    if meta_class == _DICOMDIR_CLASS:
        return DicomHeader(path=Path(path), series_uid=None, is_index=True)
    if "SOPClassUID" not in ds and "SeriesInstanceUID" not in ds:
        return None
    uid = str(ds.get("SeriesInstanceUID", "") or "").strip() or None
    if any(t in ds for t in PIXEL_TAGS) and not truncated:  # a truncated file is parsed again by the loader, which
        _keep(path, signature, ds)  # then names the problem
    return DicomHeader(
        path=Path(path),
        series_uid=uid,
        patient_id=str(ds.get("PatientID", "") or ""),
        series_number=str(ds.get("SeriesNumber", "") or ""),
        modality=str(ds.get("Modality", "") or ""),
        description=str(ds.get("SeriesDescription", "") or ""),
    )


def group_series(headers: Iterable[DicomHeader]) -> dict[str, list[DicomHeader]]:
    """Group headers by SeriesInstanceUID (files without one form their own group, keyed by path).

    Args:
        headers: headers from :func:`read_header` (DICOMDIR index files are left out).

    Returns:
        uid -> headers sorted by path.
    """
    groups: dict[str, list[DicomHeader]] = {}
    for h in headers:
        if h.is_index:
            continue
        groups.setdefault(h.series_uid or f"file:{h.path}", []).append(h)
    return {k: sorted(v, key=lambda h: str(h.path)) for k, v in sorted(groups.items())}


def series_key(header: DicomHeader, uid: str) -> str:
    """The output stem of a series: ``dicom/<PatientID>_<SeriesNumber>_<first 8 hex of sha1(uid)>``.

    Args:
        header: any header of the series (PatientID and SeriesNumber are taken from it).
        uid: the series UID (or the group key for UID-less files).
    """
    digest = hashlib.sha1(uid.encode()).hexdigest()[:8]
    return f"dicom/{safe_key(header.patient_id, 'noid')}_{safe_key(header.series_number, 'na')}_{digest}"


def describe_series(groups: dict[str, list[DicomHeader]]) -> str:
    """One line listing the series of a folder, for the error that asks the user to pick one.

    Args:
        groups: the output of :func:`group_series`.
    """
    parts = []
    for uid, hs in groups.items():
        h = hs[0]
        label = " ".join(x for x in (h.modality, f"#{h.series_number}" if h.series_number else "", h.description) if x)
        parts.append(f"{uid} ({label + ', ' if label else ''}{len(hs)} file{'s' if len(hs) != 1 else ''})")
    return "; ".join(parts)


@dataclass
class Plane:
    """One 2D image of a series: a classic single-frame file or one frame of a multi-frame file.

    Args:
        path: the file it comes from.
        frame: frame index inside that file (0 for single-frame files).
        rows: Rows.
        cols: Columns.
        position: ImagePositionPatient (LPS mm) or ``None`` when unknown.
        orientation: ImageOrientationPatient (row then column direction cosines) or ``None``.
        pixel_spacing: PixelSpacing (between rows, between columns) in mm, or ``None``.
        thickness: spacing to use along the normal for a single plane (SpacingBetweenSlices or SliceThickness).
        slope: RescaleSlope (1 when absent).
        intercept: RescaleIntercept (0 when absent).
        sop_uid: the SOPInstanceUID of the file.
    """

    path: Path
    frame: int
    rows: int
    cols: int
    position: np.ndarray | None = None
    orientation: np.ndarray | None = None
    pixel_spacing: np.ndarray | None = None
    thickness: float | None = None
    slope: float = 1.0
    intercept: float = 0.0
    sop_uid: str = ""


def floats(value, n: int) -> np.ndarray | None:
    """Parse a multi-valued numeric DICOM attribute (DS/FD) into ``n`` finite floats.

    Args:
        value: the attribute value (a MultiValue, a list, a number) or ``None``.
        n: how many numbers it must hold.

    Returns:
        The numbers, or ``None`` when absent, malformed or not finite.
    """
    if value is None:
        return None
    many = isinstance(value, Sequence | np.ndarray) and not isinstance(value, str | bytes)
    try:
        out = np.asarray([float(v) for v in (value if many else [value])])
    except (TypeError, ValueError):
        return None
    return out if out.shape == (n,) and np.isfinite(out).all() else None


def pixel_spacing(value) -> np.ndarray | None:
    """Parse PixelSpacing (or ImagerPixelSpacing): two positive finite numbers, else ``None`` (``0\\0`` is no spacing).

    Args:
        value: the attribute value or ``None``.
    """
    out = floats(value, 2)
    return out if out is not None and (out > 0).all() else None


def plane_geometry(
    planes: Sequence[Plane], origin: str | os.PathLike, notes: list[str] | None = None
) -> tuple[list[int], np.ndarray, bool]:
    """Sort planes along the slice normal, check they form one regular grid, and build the RAS affine.

    Args:
        planes: the planes of one series (any order).
        origin: the file or folder named in errors.
        notes: when given, the warnings about assumed geometry (no position, no pixel spacing) are appended to it
            instead of logged, so that a caller can drop them when the series fails later on.

    Returns:
        ``(order, affine, known)``: plane indices from first to last slice, the 4x4 voxel-index -> RAS matrix for
        array axes (column, row, slice), and whether the geometry came from the files (``False``: a default
        identity orientation was used because positions or orientations are missing).

    Raises:
        InputError: for mixed image sizes, mixed orientations or pixel spacings, several images at one position,
            or an irregular slice spacing.
    """
    first = planes[0]
    if any((p.rows, p.cols) != (first.rows, first.cols) for p in planes):
        sizes = sorted({f"{p.cols}x{p.rows}" for p in planes})
        raise InputError(origin, f"mixes image sizes ({', '.join(sizes)}); it is not one volume")
    spacings = [p.pixel_spacing for p in planes if p.pixel_spacing is not None]
    if spacings and any(not np.allclose(s, spacings[0], rtol=1e-4, atol=1e-6) for s in spacings):
        raise InputError(origin, "has slices with different pixel spacings; it is not one volume")
    d_row, d_col = (float(spacings[0][0]), float(spacings[0][1])) if spacings else (1.0, 1.0)
    known = all(p.position is not None and p.orientation is not None for p in planes)
    said = notes if notes is not None else []
    if known and not spacings:
        said.append(f"{os.fspath(origin)}: no valid PixelSpacing; using 1 mm between rows and columns")
    if not known:
        order = list(range(len(planes)))
        step = float(first.thickness or 1.0)
        affine = np.diag([d_col, d_row, step, 1.0])
        said.append(
            f"{os.fspath(origin)}: no ImagePositionPatient/ImageOrientationPatient; using a default orientation and "
            f"spacing {(d_col, d_row, step)}"
        )
    if notes is None:
        for note in said:
            logger.warning("%s", note)
    if not known:
        return order, LPS_TO_RAS @ affine, False
    o0 = first.orientation
    if any(not np.allclose(p.orientation, o0, atol=1e-4) for p in planes):
        raise InputError(origin, "has slices with different orientations (ImageOrientationPatient); not one volume")
    row_dir, col_dir = o0[:3] / np.linalg.norm(o0[:3]), o0[3:] / np.linalg.norm(o0[3:])
    normal = np.cross(row_dir, col_dir)
    positions = np.stack([p.position for p in planes])
    dist = positions @ normal
    order = [int(i) for i in np.argsort(dist, kind="stable")]
    if len(planes) == 1:
        step_vec = normal * float(first.thickness or 1.0)
    else:
        sorted_pos = positions[order]
        gaps = np.diff(dist[order])
        if gaps.min() < 1e-3:
            distinct = int((gaps >= 1e-3).sum()) + 1
            raise InputError(
                origin,
                f"has {len(planes)} images at only {distinct} distinct slice positions (several acquisitions, "
                "echoes or time points in one series); 4D series are not supported",
            )
        step_vec = (sorted_pos[-1] - sorted_pos[0]) / (len(planes) - 1)
        expected = sorted_pos[0] + np.arange(len(planes))[:, None] * step_vec
        tol = 0.01 * float(np.linalg.norm(step_vec)) + 1e-3
        if np.linalg.norm(sorted_pos - expected, axis=1).max() > tol:
            raise InputError(
                origin,
                f"has inconsistent slice spacing (gaps from {gaps.min():.4g} to {gaps.max():.4g} mm along the slice "
                "normal): slices are missing or several volumes are mixed",
            )
    lps = np.eye(4)
    lps[:3, 0] = row_dir * d_col  # array axis 0 runs along a row: column index, PixelSpacing[1]
    lps[:3, 1] = col_dir * d_row  # array axis 1 runs down a column: row index, PixelSpacing[0]
    lps[:3, 2] = step_vec
    lps[:3, 3] = positions[order[0]]
    return order, LPS_TO_RAS @ lps, True
