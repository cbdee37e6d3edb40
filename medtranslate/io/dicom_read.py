"""Read a DICOM series (classic single-frame files, enhanced or legacy multi-frame files) into a MetaTensor."""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydicom.pixels import apply_color_lut, apply_modality_lut
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from medtranslate.errors import InputError
from medtranslate.io.dicom_enhanced import dose_scaling, frame_planes, group_value, is_multiframe
from medtranslate.io.dicom_series import (
    IDENTITY_TAGS,
    PIXEL_TAGS,
    Plane,
    describe_series,
    floats,
    group_series,
    keep_parsed_headers,
    parse_dicom,
    pixel_spacing,
    plane_geometry,
    quiet_pydicom,
    read_header,
    take_dataset,
)
from medtranslate.io.formats import format_from_suffix, is_sidecar, looks_like_dicom
from medtranslate.io.validate import ArrayImage, checked_image

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from monai.data import MetaTensor

__all__ = ["load_dicom_files", "read_dicom_files", "load_dicom_folder", "dicom_candidates"]


def dicom_candidates(folder: Path) -> list[Path]:
    """Files under ``folder`` (recursively, sorted) that may be DICOM: a DICOM suffix, or no image suffix + preamble.

    Args:
        folder: the folder to walk.
    """
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            p = Path(root, name)
            if is_sidecar(p):
                continue
            fmt = format_from_suffix(p)
            if fmt == "dicom" or (fmt is None and looks_like_dicom(p)):
                out.append(p)
    return out


def _read(path: Path) -> Any:
    ds = take_dataset(path)  # parsed moments ago by discovery (read_header), pixel data still on disk
    truncated = None
    try:
        if ds is None:
            ds, truncated = parse_dicom(path)
    except Exception as e:  # noqa: BLE001 - every parse failure is one "cannot be read" line
        raise InputError(path, f"is not a readable DICOM file ({' '.join(str(e).split())[:200]})") from e
    if truncated:
        raise InputError(path, f"is truncated: the file ends inside a DICOM element ({truncated.split(' found ')[0]})")
    if not any(t in ds for t in PIXEL_TAGS):
        if len(ds) == 0:
            raise InputError(path, "is not a DICOM file (no DICOM data element could be read)")
        if "SOPClassUID" not in ds and "SeriesInstanceUID" not in ds:
            raise InputError(path, "is a DICOM dataset without pixel data (and without a SOP Class), not an image")
        kind = getattr(ds.SOPClassUID, "name", str(ds.SOPClassUID)) if "SOPClassUID" in ds else "object"
        raise InputError(path, f"is a DICOM {kind} without pixel data, not an image")
    if "Rows" not in ds or "Columns" not in ds:
        raise InputError(path, "has pixel data but no Rows/Columns")
    return ds


_PLAIN_SYNTAXES = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1")  # Implicit / Explicit VR Little Endian
_PLAIN_PHOTOMETRIC = ("MONOCHROME1", "MONOCHROME2")


def _plain_pixels(ds: Any) -> np.ndarray | None:
    """The pixels of the commonest slice, read straight from its bytes; ``None`` for anything else.

    Uncompressed little-endian, one sample, one frame, 8/16/32-bit with no unused bits: pydicom's decoder returns
    exactly ``frombuffer(PixelData)`` for these, after a per-call setup that costs more than the copy. Everything
    else (compressed, big-endian, colour, multi-frame, 12 bits in 16, short data) goes through pydicom.
    """
    ts = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "")
    try:
        if (
            ts not in _PLAIN_SYNTAXES
            or np.little_endian is False
            or "PixelData" not in ds
            or int(ds.get("SamplesPerPixel", 1) or 1) != 1
            or int(ds.get("NumberOfFrames", 1) or 1) != 1
            or str(ds.get("PhotometricInterpretation", "")) not in _PLAIN_PHOTOMETRIC
        ):
            return None
        bits, stored = int(ds.BitsAllocated), int(ds.BitsStored)
        rows, cols, signed = int(ds.Rows), int(ds.Columns), int(ds.PixelRepresentation)
    except (AttributeError, TypeError, ValueError):
        return None
    if bits not in (8, 16, 32) or stored != bits or signed not in (0, 1):
        return None
    data = ds.PixelData
    dtype = np.dtype(f"<{'i' if signed else 'u'}{bits // 8}")
    if not isinstance(data, bytes) or len(data) < rows * cols * dtype.itemsize:
        return None  # pydicom names the problem
    return np.frombuffer(data, dtype=dtype, count=rows * cols).reshape(rows, cols)


def _native_syntax(ds: Any) -> None:
    """Give a file without (0002,0010) Transfer Syntax UID the one it was parsed with, if its pixel data is native.

    Old files without a File Meta header are still readable: pydicom parses them by guessing the VR encoding, but
    will not decode pixels without a transfer syntax. Uncompressed pixel data (defined length) is decoded with the
    guessed encoding; compressed (encapsulated) pixel data stays undecodable. Only the dataset in memory changes.
    """
    meta = getattr(ds, "file_meta", None)
    if meta is None or meta.get("TransferSyntaxUID") or "PixelData" not in ds or ds["PixelData"].is_undefined_length:
        return
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if implicit is None or little is None:
        return
    syntax = ExplicitVRBigEndian if not little else ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    meta.TransferSyntaxUID = syntax


def _is_colour(ds: Any) -> bool:
    """Whether the decoded image has colour samples: several samples per pixel, or PALETTE COLOR (expanded to RGB)."""
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    return photometric == "PALETTE COLOR" or int(ds.get("SamplesPerPixel", 1) or 1) > 1


def _decode(ds: Any, path: Path) -> np.ndarray:
    """Decoded pixels as (frames, rows, cols[, samples]), through the palette or the Modality LUT Sequence if any.

    pydicom's ``pixel_array`` (YCbCr becomes RGB there); PALETTE COLOR through ``apply_color_lut`` (RGB, or RGBA with
    an alpha palette); grayscale with a Modality LUT Sequence through ``apply_modality_lut``. RescaleSlope/Intercept
    and DoseGridScaling are applied later, per slice (:func:`_rescale`).
    """
    try:
        with quiet_pydicom():  # pydicom logs decoder failures with a traceback; the InputError below is the one line
            _native_syntax(ds)
            arr = _plain_pixels(ds)
            arr = arr if arr is not None else ds.pixel_array
            if str(ds.get("PhotometricInterpretation", "")).strip() == "PALETTE COLOR":
                arr = apply_color_lut(arr, ds)
            elif not _is_colour(ds) and ds.get("ModalityLUTSequence"):
                arr = apply_modality_lut(arr, ds)
    except Exception as e:  # noqa: BLE001 - decoder errors (truncated data, missing codec) become one line
        ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        ts_name = getattr(ts, "name", str(ts)) if ts else "unknown transfer syntax"
        raise InputError(path, f"has pixel data that cannot be decoded ({ts_name}): {' '.join(str(e).split())}") from e
    spatial = arr.ndim - (1 if _is_colour(ds) else 0)
    if spatial == 2:
        arr = arr[None]
    elif spatial != 3:
        raise InputError(path, f"has decoded pixel data of shape {arr.shape}, not one image or a stack of frames")
    return arr


def _classic_plane(ds: Any, path: Path) -> Plane:
    thickness = None
    for tag in ("SpacingBetweenSlices", "SliceThickness"):
        v = floats(ds.get(tag), 1)
        if v is not None and v[0] > 0:
            thickness = float(v[0])
            break
    slope, intercept = floats(ds.get("RescaleSlope"), 1), floats(ds.get("RescaleIntercept"), 1)
    if ds.get("ModalityLUTSequence"):  # the LUT replaces the rescale (applied when decoding)
        slope = intercept = None
    elif slope is None and intercept is None:
        slope = floats(dose_scaling(ds), 1)
    spacing = pixel_spacing(ds.get("PixelSpacing"))
    return Plane(
        path=path,
        frame=0,
        rows=int(ds.Rows),
        cols=int(ds.Columns),
        position=floats(ds.get("ImagePositionPatient"), 3),
        orientation=floats(ds.get("ImageOrientationPatient"), 6),
        pixel_spacing=spacing if spacing is not None else pixel_spacing(ds.get("ImagerPixelSpacing")),
        thickness=thickness,
        slope=float(slope[0]) if slope is not None else 1.0,
        intercept=float(intercept[0]) if intercept is not None else 0.0,
        sop_uid=str(ds.get("SOPInstanceUID", "")),
    )


def _stack_frames(ordered: list[Plane], datasets: dict[Path, Any]) -> np.ndarray:
    """Decoded frames in slice order as (N, rows, cols[, 3]); each file is decoded once and released when used up."""
    left = Counter(p.path for p in ordered)
    decoded: dict[Path, np.ndarray] = {}
    out: np.ndarray | None = None
    for z, plane in enumerate(ordered):
        if plane.path not in decoded:
            ds = datasets[plane.path]
            decoded[plane.path] = _decode(ds, plane.path)
            for tag in PIXEL_TAGS:  # the raw bytes are no longer needed
                if tag in ds:
                    delattr(ds, tag)
        frames = decoded[plane.path]
        if plane.frame >= frames.shape[0]:
            raise InputError(plane.path, f"declares more frames than its pixel data holds ({frames.shape[0]})")
        frame = frames[plane.frame]
        if out is None:
            out = np.empty((len(ordered), *frame.shape), dtype=frame.dtype)
        elif frame.shape != out.shape[1:]:
            raise InputError(plane.path, f"has pixel data of shape {frame.shape}, the series {out.shape[1:]}")
        elif not np.can_cast(frame.dtype, out.dtype, casting="safe"):
            out = out.astype(np.result_type(out.dtype, frame.dtype))  # e.g. signed and unsigned slices mixed
        out[z] = frame
        left[plane.path] -= 1
        if not left[plane.path]:
            del decoded[plane.path]
    assert out is not None
    return out


def _rescale(stored: np.ndarray, ordered: list[Plane]) -> np.ndarray:
    """Apply each slice's RescaleSlope/Intercept; integer rescale of integer data stays integer (CT in HU).

    The integer result takes the smallest of int16/int32/int64 that holds every slice's exact output range (from the
    slice's min and max), and is computed slice by slice in that type: in place when it is the stored type (the usual
    int16 CT), else into one new array. Integer arithmetic wraps modulo 2**bits, so the result is exact whenever it
    fits the type, which the range check guarantees.
    """
    if all(p.slope == 1.0 and p.intercept == 0.0 for p in ordered) and np.issubdtype(stored.dtype, np.integer):
        return stored
    integral = all(float(p.slope).is_integer() and float(p.intercept).is_integer() for p in ordered)
    if integral and np.issubdtype(stored.dtype, np.integer):
        lo = hi = 0.0
        for z, p in enumerate(ordered):
            ends = (float(stored[z].min()) * p.slope + p.intercept, float(stored[z].max()) * p.slope + p.intercept)
            lo, hi = (min(ends), max(ends)) if z == 0 else (min(lo, *ends), max(hi, *ends))
        target = np.dtype(_smallest_int(lo, hi))
        out = stored if target == stored.dtype else np.empty(stored.shape, dtype=target)
        for z, p in enumerate(ordered):
            if out is not stored:
                np.copyto(out[z], stored[z], casting="unsafe")  # modulo 2**bits, undone exactly by the wrap below
            if p.slope != 1:
                np.multiply(out[z], _wrapped(p.slope, target), out=out[z])
            if p.intercept != 0:
                np.add(out[z], _wrapped(p.intercept, target), out=out[z])
        return out
    values = np.empty(stored.shape, dtype=np.float32)
    for z, p in enumerate(ordered):
        values[z] = stored[z].astype(np.float64) * p.slope + p.intercept
    return values


def _wrapped(value: float, dtype: np.dtype) -> np.generic:
    """An integral ``value`` as a ``dtype`` scalar, modulo 2**bits (an intercept of -40000 in int16 arithmetic)."""
    return np.array(int(value), dtype=np.int64).astype(dtype)[()]


def _smallest_int(lo: float, hi: float) -> type:
    for dt in (np.int16, np.int32):
        info = np.iinfo(dt)
        if info.min <= lo and hi <= info.max:
            return dt
    return np.int64


def _identity(ds: Any, planes: list[Plane], first: Plane) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tag in IDENTITY_TAGS:
        if tag in ds:
            value = ds.get(tag)
            out[tag] = "" if value is None else str(value)
    pvt = "PixelValueTransformationSequence"
    slope = ds.get("RescaleSlope") if "RescaleSlope" in ds else group_value(ds, first.frame, pvt, "RescaleSlope")
    if slope is not None:
        out["RescaleSlope"] = float(first.slope)
        out["RescaleIntercept"] = float(first.intercept)
        rescale_type = ds.get("RescaleType") or group_value(ds, first.frame, pvt, "RescaleType")
        if rescale_type:
            out["RescaleType"] = str(rescale_type)
    sops = list(dict.fromkeys(p.sop_uid for p in planes if p.sop_uid))
    out["SOPInstanceUIDs"] = "\\".join(sops)  # slice order; a string so that MONAI's collate can batch it
    return out


def read_dicom_files(paths: Sequence[Path], origin: str | os.PathLike) -> ArrayImage:
    """Read the files of ONE series as NumPy (no torch or MONAI); :func:`load_dicom_files` wraps it as a MetaTensor.

    Args:
        paths: the series' files (any order; multi-frame files give one slice per frame).
        origin: the file or folder the user named (used in errors and ``meta["filename_or_obj"]``).

    Returns:
        The :class:`~medtranslate.io.validate.ArrayImage` (see :func:`load_dicom_files` for shape and meta). Its
        array is a transposed view of the ``(slice, row, column)`` stack, i.e. Fortran-ordered ``(X, Y, Z)``, which
        is NIfTI's own layout.

    Raises:
        InputError: as :func:`load_dicom_files`.
    """
    datasets: dict[Path, Any] = {}
    planes: list[Plane] = []
    for p in paths:
        ds = _read(Path(p))
        datasets[Path(p)] = ds
        planes.extend(frame_planes(ds, Path(p)) if is_multiframe(ds) else [_classic_plane(ds, Path(p))])
    assumed: list[str] = []  # warnings about assumed geometry, logged only if the series converts
    order, affine, _known = plane_geometry(planes, origin, assumed)
    if len({_is_colour(ds) for ds in datasets.values()}) > 1:
        raise InputError(origin, "mixes grayscale and colour images; it is not one volume")
    ordered = [planes[i] for i in order]
    stored = _stack_frames(ordered, datasets)
    if stored.ndim == 4:  # colour: (N, rows, cols, C) -> (C, cols, rows, N); no rescale for colour
        vol = stored.transpose(3, 2, 1, 0)
    else:
        vol = _rescale(stored, ordered).transpose(2, 1, 0)[None]  # (N, rows, cols) -> (1, cols, rows, N)
    notes = _value_notes(list(datasets.values()))
    if any(dose_scaling(ds) is not None for ds in datasets.values()) and vol.dtype != np.float32:
        vol = vol.astype(np.float32)  # dose is a real quantity even when the scaling happens to be integral
    if vol.shape[-1] == 1:
        vol = vol[..., 0]
    first = ordered[0]
    meta: dict[str, Any] = {"mt_dicom": _identity(datasets[first.path], ordered, first)}
    if notes:
        meta["mt_note"] = notes
    image = checked_image(vol, affine, origin, "dicom", meta)
    for warning in assumed:
        logger.warning("%s", warning)
    return image


def _value_notes(datasets: list[Any]) -> str:
    """What the voxel values are, when they are not the stored pixels or their plain rescale (for reports)."""
    notes = []
    if any(dose_scaling(ds) is not None for ds in datasets):
        units = {str(ds.get("DoseUnits", "") or "").strip().upper() for ds in datasets} - {""}
        what = f"dose in DoseUnits {'/'.join(sorted(units))}" if units else "dose (no DoseUnits given)"
        what = "dose in Gy" if units == {"GY"} else what
        notes.append(f"RT Dose: DoseGridScaling applied, values are {what} (float32)")
    if any(ds.get("ModalityLUTSequence") and not _is_colour(ds) for ds in datasets):
        notes.append("Modality LUT Sequence applied")
    if any(str(ds.get("PhotometricInterpretation", "")).strip() == "PALETTE COLOR" for ds in datasets):
        notes.append("PALETTE COLOR expanded to RGB through its palette")
    return "; ".join(notes)


def load_dicom_files(paths: Sequence[Path], origin: str | os.PathLike) -> MetaTensor:
    """Read the files of ONE series into a channel-first MetaTensor, slices ordered along the slice normal.

    Args:
        paths: the series' files (any order; multi-frame files give one slice per frame).
        origin: the file or folder the user named (used in errors and ``meta["filename_or_obj"]``).

    Returns:
        ``(1, X, Y, Z)`` for grayscale, ``(3, X, Y, Z)`` for colour (``(C, X, Y)`` for a single image), with
        RescaleSlope/Intercept (or the Modality LUT Sequence, or RT Dose's DoseGridScaling, as float32) applied and
        PALETTE COLOR expanded to RGB, an RAS affine, ``meta["mt_dicom"]`` (identity tags, rescale,
        ``SOPInstanceUIDs`` in slice order) and, when the values are more than the rescaled pixels,
        ``meta["mt_note"]`` saying what they are.

    Raises:
        InputError: unreadable files, files without pixel data, undecodable pixels, and everything
            :func:`~medtranslate.io.dicom_series.plane_geometry` refuses.
    """
    return read_dicom_files(paths, origin).to_metatensor()


def load_dicom_folder(folder: Path, series_uid: str | None = None) -> MetaTensor:
    """Read one series from a folder tree of DICOM files.

    Args:
        folder: the folder (searched recursively).
        series_uid: the SeriesInstanceUID to read; required when the folder holds several series.

    Raises:
        InputError: no DICOM files, an unreadable DICOM file, several series and no ``series_uid``, an unknown
            ``series_uid``, or any error of :func:`load_dicom_files`.
    """
    candidates = dicom_candidates(folder)
    with keep_parsed_headers():  # parsed once: the load below takes the headers read here
        if not candidates:
            raise InputError(folder, "holds no DICOM files (pass an image file itself for other formats)")
        headers = []
        for p in candidates:
            h = read_header(p)
            if h is None:  # never drop a file silently: it may be a slice of the series
                raise InputError(p, "is not a readable DICOM file (remove it or pass the series' files)")
            headers.append(h)
        groups = group_series(headers)
        if not groups:
            raise InputError(folder, "holds no DICOM images (only DICOMDIR index files)")
        if series_uid is not None:
            if series_uid not in groups:
                raise InputError(folder, f"has no series {series_uid}; it holds: {describe_series(groups)}")
            chosen = groups[series_uid]
        elif len(groups) > 1:
            listing = describe_series(groups)
            raise InputError(folder, f"holds {len(groups)} DICOM series, pick one with series_uid: {listing}")
        else:
            chosen = next(iter(groups.values()))
        return load_dicom_files([h.path for h in chosen], folder)
