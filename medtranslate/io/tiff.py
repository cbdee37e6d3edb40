"""TIFF stacks (tifffile): multi-page, ImageJ hyperstacks, OME-TIFF, RGB and multi-channel confocal exports.

MONAI has no TIFF reader for z-stacks with physical spacing (its PILReader reads the first page only), so tifffile is
used directly. Spacing comes, in this order, from medtranslate's own ``mt_affine`` entry (exact round trip), OME
PhysicalSize*, ImageJ calibration (XResolution/YResolution + ``spacing`` + ``unit``), or the TIFF resolution tags.
"""

from __future__ import annotations

import logging
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import tifffile

from medtranslate.errors import InputError
from medtranslate.io.validate import affine_spacing, to_metatensor
from medtranslate.utils.atomic import atomic_path

if TYPE_CHECKING:
    from monai.data import MetaTensor

__all__ = ["load_tiff", "save_tiff", "UNIT_TO_MM"]

logger = logging.getLogger(__name__)

#: length units found in ImageJ / OME metadata -> millimetres.
UNIT_TO_MM: dict[str, float] = {
    "nm": 1e-6,
    "nanometer": 1e-6,
    "um": 1e-3,
    "µm": 1e-3,
    "μm": 1e-3,
    "\\u00b5m": 1e-3,
    "micron": 1e-3,
    "microns": 1e-3,
    "micrometer": 1e-3,
    "mm": 1.0,
    "millimeter": 1.0,
    "cm": 10.0,
    "centimeter": 10.0,
    "m": 1000.0,
    "meter": 1000.0,
    "inch": 25.4,
    "in": 25.4,
}
_SLICE_AXES = "ZIQ"  # Z, generic image sequence, unknown: all stack pages along the third axis


def _unit_scale(unit: str | None, path: Path) -> float:
    if not unit or unit.lower() in ("pixel", "pixels", "none"):
        return 1.0
    scale = UNIT_TO_MM.get(unit.strip().lower())
    if scale is None:
        logger.warning("%s: unknown length unit %r; spacing taken as millimetres", os.fspath(path), unit)
        return 1.0
    return scale


def _resolution(page: Any, tag: str) -> float | None:
    """Pixel size (1 / resolution) from a TIFF XResolution/YResolution tag, in the file's own unit."""
    t = page.tags.get(tag)
    if t is None:
        return None
    num, den = t.value if isinstance(t.value, tuple) else (t.value, 1)
    return float(den) / float(num) if num else None


def _ome_spacing(xml: str) -> tuple[list[float | None], list[str | None]]:
    root = ET.fromstring(xml)
    pixels = next((el for el in root.iter() if el.tag.endswith("Pixels")), None)
    if pixels is None:
        return [None] * 3, [None] * 3
    sizes = [pixels.get(f"PhysicalSize{a}") for a in "XYZ"]
    units = [pixels.get(f"PhysicalSize{a}Unit", "µm") for a in "XYZ"]
    return [float(s) if s else None for s in sizes], units


def _geometry(tif: Any, path: Path) -> np.ndarray:
    """The 4x4 voxel -> mm matrix for array axes (X, Y, Z)."""
    ij = tif.imagej_metadata or {}
    if "mt_affine" in ij:
        try:
            values = [float(v) for v in str(ij["mt_affine"]).split()]
            if len(values) == 16:
                return np.asarray(values).reshape(4, 4)
        except ValueError:
            pass
    page = tif.pages.first
    spacing: list[float | None] = [None, None, None]
    if tif.is_ome and tif.ome_metadata:
        sizes, units = _ome_spacing(tif.ome_metadata)
        spacing = [s * _unit_scale(u, path) if s else None for s, u in zip(sizes, units)]
    elif ij:
        scale = _unit_scale(ij.get("unit"), path)
        rx, ry = _resolution(page, "XResolution"), _resolution(page, "YResolution")
        z = ij.get("spacing")
        spacing = [rx * scale if rx else None, ry * scale if ry else None, float(z) * scale if z else None]
    else:
        unit = page.tags.get("ResolutionUnit")
        unit_mm = {2: 25.4, 3: 10.0}.get(int(unit.value) if unit is not None else 2)
        if unit_mm is not None and page.tags.get("XResolution") is not None:
            rx, ry = _resolution(page, "XResolution"), _resolution(page, "YResolution")
            spacing = [rx * unit_mm if rx else None, ry * unit_mm if ry else None, None]
    values = [s if s and np.isfinite(s) and s > 0 else 1.0 for s in spacing]
    if spacing[2] is None and spacing[0] is not None:
        values[2] = values[0]  # no z step recorded: assume isotropic, as ImageJ does
    return np.diag([*values, 1.0])


def _to_channel_first(data: np.ndarray, axes: str, path: Path) -> np.ndarray:
    """Reorder a tifffile series to (C, X, Y[, Z])."""
    axes = axes.upper()
    keep, squeeze = [], []
    for i, a in enumerate(axes):
        if data.shape[i] == 1 and a not in "YX":
            squeeze.append(i)
        else:
            keep.append(a)
    data = data.squeeze(axis=tuple(squeeze)) if squeeze else data
    axes = "".join(keep)
    if "T" in axes:
        raise InputError(path, f"is a time series ({data.shape[axes.index('T')]} time points); 4D is not supported")
    slice_axes = [a for a in axes if a in _SLICE_AXES]
    chan_axes = [a for a in axes if a in "CS"]
    other = [a for a in axes if a not in _SLICE_AXES + "CSYX"]
    if other or len(slice_axes) > 1 or len(chan_axes) > 1 or "Y" not in axes or "X" not in axes:
        raise InputError(path, f"has an unsupported TIFF layout (axes {axes}, shape {data.shape})")
    order = [axes.index(a) for a in chan_axes + ["X", "Y"] + slice_axes]
    out = np.transpose(data, order)
    return out if chan_axes else out[None]


def load_tiff(path: Path) -> MetaTensor:
    """Read a (multi-page) TIFF as ``(C, X, Y[, Z])`` with spacing from its metadata.

    Args:
        path: the file (``.tif``, ``.tiff``, ``.ome.tif``).

    Raises:
        InputError: unreadable file, a time series, or an unsupported axis layout.
    """
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            data = series.asarray()
            axes = series.axes
            affine = _geometry(tif, path)
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - tifffile raises TiffFileError/ValueError/OSError for damaged files
        raise InputError(path, f"cannot be read as TIFF ({' '.join(str(e).split())[:200]})") from e
    array = _to_channel_first(data, axes, path)
    if array.ndim == 3:  # 2D image: the 4x4 keeps a unit third axis
        affine[2, 2] = affine[2, 2] or 1.0
    return to_metatensor(array, affine, path, "tiff", None)


def _tiff_dtype(array: np.ndarray) -> np.ndarray:
    """ImageJ reads uint8, uint16, int16 and float32; convert anything else losslessly where possible."""
    if array.dtype in (np.uint8, np.uint16, np.int16, np.float32):
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer) and array.size and array.min() >= 0 and array.max() <= 65535:
        return array.astype(np.uint16)
    if np.issubdtype(array.dtype, np.integer) and array.size and array.min() >= -32768 and array.max() <= 32767:
        return array.astype(np.int16)
    return array.astype(np.float32)


def save_tiff(array: np.ndarray, affine: np.ndarray, path: Path) -> Path:
    """Write ``(C, X, Y[, Z])`` as an ImageJ-compatible TIFF stack with calibrated spacing.

    8-bit RGB is stored as RGB pages (axes ``ZYXS``); other multi-channel data as a hyperstack (``ZCYX``). The
    spacing is written as ImageJ calibration (micron, or mm for voxels of 0.1 mm and more) and the full affine as
    an ``mt_affine`` entry that :func:`load_tiff` restores exactly.

    Args:
        array: channel-first data.
        affine: 4x4 voxel -> RAS mm.
        path: destination; written atomically.

    Returns:
        The final path.
    """
    array = _tiff_dtype(array)
    channels, volume = array.shape[0], array.ndim == 4
    data = array if volume else array[..., None]  # (C, X, Y, Z)
    spacing = affine_spacing(affine, 3)
    unit, scale = ("mm", 1.0) if spacing[:2].min() >= 0.1 else ("micron", 1000.0)
    rgb = channels == 3 and data.dtype == np.uint8
    if rgb:
        data, axes = data.transpose(3, 2, 1, 0), "ZYXS"  # (Z, Y, X, 3)
    elif channels > 1:
        data, axes = data.transpose(3, 0, 2, 1), "ZCYX"
    else:
        data, axes = data[0].transpose(2, 1, 0), "ZYX"
    if not volume:
        data, axes = data[0], axes[1:]
    metadata = {
        "axes": axes,
        "unit": unit,
        "spacing": float(spacing[2] * scale),
        "mt_affine": " ".join(re.sub(r"\.0$", "", repr(float(v))) for v in np.asarray(affine).ravel()),
    }
    with atomic_path(path) as tmp:
        tifffile.imwrite(
            tmp,
            np.ascontiguousarray(data),
            imagej=True,
            photometric="rgb" if rgb else "minisblack",
            resolution=(1.0 / (spacing[0] * scale), 1.0 / (spacing[1] * scale)),
            metadata=metadata,
        )
    return Path(path)
