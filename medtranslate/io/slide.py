"""Whole-slide TIFF / OME-TIFF: lazy region reads of tiled pyramids and a streaming pyramidal OME-TIFF writer.

Confocal mosaics (VivaScope: one grayscale image per mode, > 10,000 x 10,000 pixels) and H&E scans are tiled,
pyramidal TIFFs. :class:`SlideReader` reads any region of any level by decoding only the tiles (or strips) it
touches, with tifffile alone (no zarr); the slide is never loaded whole. :func:`write_pyramid_ome_tiff` writes a
tiled RGB (or grayscale) OME-TIFF with reduced-resolution SubIFDs, the layout QuPath, OMERO and Bio-Formats open as a
pyramid, from an iterator of row bands, keeping only one band (plus its downsampled rows, spooled to raw temporary
files) in memory. Arrays here are ``(rows, columns[, samples])``, the slide's own orientation.
"""

from __future__ import annotations

import logging
import math
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from monai.utils import optional_import

from medtranslate.errors import InputError, OutputError
from medtranslate.utils.atomic import atomic_path

tifffile, _ = optional_import("tifffile")

__all__ = [
    "SlideReader",
    "write_pyramid_ome_tiff",
    "downsample_mean",
    "check_mode_pair",
    "unit_scale",
    "SYNTHETIC_MARK",
]

logger = logging.getLogger(__name__)

#: the word that starts the name and description of every generated slide.
SYNTHETIC_MARK = "SYNTHETIC"
_UM = {"µm": 1.0, "um": 1.0, "μm": 1.0, "micron": 1.0, "nm": 1e-3, "mm": 1e3, "cm": 1e4, "m": 1e6}


def downsample_mean(a: np.ndarray, factor: int) -> np.ndarray:
    """Block-mean downsampling of ``(rows, columns[, samples])`` by an integer factor (edges padded by replication).

    Args:
        a: the array.
        factor: the block size.

    Returns:
        ``(ceil(rows / f), ceil(columns / f)[, samples])`` in ``a``'s dtype (rounded for integers).
    """
    if factor == 1:
        return a
    h, w = a.shape[:2]
    ph, pw = -h % factor, -w % factor
    if ph or pw:
        a = np.pad(a, ((0, ph), (0, pw)) + ((0, 0),) * (a.ndim - 2), mode="edge")
    hh, ww = a.shape[0] // factor, a.shape[1] // factor
    m = a.reshape(hh, factor, ww, factor, *a.shape[2:]).astype(np.float32).mean(axis=(1, 3))
    return np.round(m).astype(a.dtype) if np.issubdtype(a.dtype, np.integer) else m.astype(a.dtype)


class SlideReader:
    """Lazy reader of a (pyramidal, tiled) TIFF / OME-TIFF slide.

    Args:
        path: the slide file.

    Raises:
        InputError: when the file is not a readable TIFF.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        try:
            self._tif = tifffile.TiffFile(self.path)
            series = self._tif.series[0]
            self._pages = [lvl.keyframe for lvl in series.levels]
        except Exception as e:  # noqa: BLE001 - tifffile raises several types for broken files
            raise InputError(self.path, f"cannot be read as a TIFF slide ({' '.join(str(e).split())[:200]})") from e
        page = self._pages[0]
        if page.is_tiled and page.tiledepth > 1:
            raise InputError(self.path, "is a 3D tiled TIFF, not a 2D slide")
        self.dtype = np.dtype(page.dtype)
        self.samples = int(page.samplesperpixel)
        self.levels = [(int(p.imagelength), int(p.imagewidth)) for p in self._pages]
        if page.planarconfig == 2 and self.samples > 1:
            raise InputError(self.path, "stores colour planes separately (planar configuration 2), not supported")
        if len(series.shape) > 3 and int(np.prod(series.shape[:-3] if self.samples > 1 else series.shape[:-2])) > 1:
            raise InputError(self.path, f"holds several planes (shape {series.shape}); a slide mode is one 2D image")
        self.pixel_size_um = self._pixel_size()

    # ------------------------------------------------------------------ metadata
    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, columns)`` of level 0."""
        return self.levels[0]

    def _pixel_size(self) -> float | None:
        if self._tif.is_ome and self._tif.ome_metadata:
            m = re.search(r'PhysicalSizeX="([0-9.eE+-]+)"', self._tif.ome_metadata)
            u = re.search(r'PhysicalSizeXUnit="([^"]+)"', self._tif.ome_metadata)
            if m:
                return float(m.group(1)) * _UM.get(u.group(1) if u else "µm", 1.0)
        page = self._pages[0]
        tag = page.tags.get("XResolution")
        unit = page.tags.get("ResolutionUnit")
        if tag is None or unit is None or int(unit.value) not in (2, 3):
            return None
        num, den = tag.value
        if not num:
            return None
        per_unit_um = 25_400.0 if int(unit.value) == 2 else 10_000.0
        return per_unit_um * den / num

    def close(self) -> None:
        """Close the file."""
        self._tif.close()

    def __enter__(self) -> SlideReader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ pixels
    def read_region(self, y: int, x: int, h: int, w: int, level: int = 0) -> np.ndarray:
        """Read ``[y, y + h) x [x, x + w)`` of a level; the part outside the image is zero.

        Args:
            y: first row.
            x: first column.
            h: number of rows.
            w: number of columns.
            level: pyramid level (0 = full resolution).

        Returns:
            ``(h, w)`` for one sample per pixel, else ``(h, w, samples)``, in the slide's dtype.
        """
        page = self._pages[level]
        rows, cols = self.levels[level]
        out = np.zeros((h, w, self.samples), self.dtype)
        y0, x0, y1, x1 = max(y, 0), max(x, 0), min(y + h, rows), min(x + w, cols)
        if y1 > y0 and x1 > x0:
            if page.is_tiled:
                th, tw = page.tilelength, page.tilewidth
                ntx = math.ceil(cols / tw)
                indices = [
                    ty * ntx + tx
                    for ty in range(y0 // th, (y1 - 1) // th + 1)
                    for tx in range(x0 // tw, (x1 - 1) // tw + 1)
                ]
            else:
                rps = min(int(page.rowsperstrip or rows), rows)
                indices = list(range(y0 // rps, (y1 - 1) // rps + 1))
            fh = self._tif.filehandle
            for index in indices:
                fh.seek(page.dataoffsets[index])
                segment, (_, _, sy, sx, _), _ = page.decode(fh.read(page.databytecounts[index]), index)
                if segment is None:
                    continue
                seg = segment.reshape(segment.shape[-3:])  # (rows, columns, samples)
                gy0, gx0 = max(sy, y0), max(sx, x0)
                gy1, gx1 = min(sy + seg.shape[0], y1), min(sx + seg.shape[1], x1)
                if gy1 > gy0 and gx1 > gx0:
                    out[gy0 - y : gy1 - y, gx0 - x : gx1 - x] = seg[gy0 - sy : gy1 - sy, gx0 - sx : gx1 - sx]
        return out[..., 0] if self.samples == 1 else out

    def thumbnail(self, max_size: int = 1024) -> tuple[np.ndarray, int]:
        """A low-resolution image of the whole slide, from the smallest pyramid level that is at least ``max_size``
        pixels on its long side (or level 0), block-averaged in bands so memory stays bounded.

        Args:
            max_size: the long side the thumbnail should not exceed.

        Returns:
            ``(thumbnail, factor)``: the image and its downsampling factor relative to level 0 (approximately, for
            pyramids whose levels are not exact powers of two).
        """
        level = 0
        for i, (r, c) in enumerate(self.levels):
            if max(r, c) >= max_size:
                level = i
        rows, cols = self.levels[level]
        factor = max(1, math.ceil(max(rows, cols) / max_size))
        band = factor * max(1, 512 // factor)
        parts = [
            downsample_mean(self.read_region(y, 0, min(band, rows - y), cols, level), factor)
            for y in range(0, rows, band)
        ]
        total = max(1, round(self.levels[0][0] / rows)) * factor
        return np.concatenate(parts, axis=0), total


def unit_scale(reader: SlideReader) -> float:
    """The value that maps a slide's pixels to [0, 1]: the integer type's maximum, or 1 for floats.

    Args:
        reader: the slide.
    """
    return float(np.iinfo(reader.dtype).max) if np.issubdtype(reader.dtype, np.integer) else 1.0


def check_mode_pair(fcm: SlideReader, rcm: SlideReader, min_size: int, pixel_tolerance: float = 0.01) -> None:
    """Check two co-registered confocal modes: grayscale each, same size, same pixel size, at least one patch.

    Args:
        fcm: the fluorescence slide.
        rcm: the reflectance slide.
        min_size: the smallest accepted side (one patch or window).
        pixel_tolerance: accepted relative difference of the pixel sizes (when both are known).

    Raises:
        InputError: naming the offending file.
    """
    for r in (fcm, rcm):
        if r.samples != 1:
            raise InputError(
                r.path, f"has {r.samples} samples per pixel (RGB?); each confocal mode is one grayscale image"
            )
    if fcm.shape != rcm.shape:
        raise InputError(rcm.path, f"is {rcm.shape[1]}x{rcm.shape[0]} px but the FCM is {fcm.shape[1]}x{fcm.shape[0]}")
    a, b = fcm.pixel_size_um, rcm.pixel_size_um
    if a and b and abs(a - b) > pixel_tolerance * max(a, b):
        raise InputError(rcm.path, f"has {b:.4g} um pixels but the FCM {a:.4g} um; the modes must be co-registered")
    if min(fcm.shape) < min_size:
        raise InputError(fcm.path, f"is smaller ({fcm.shape[1]}x{fcm.shape[0]} px) than one patch ({min_size} px)")


def _level_shapes(shape: tuple[int, int], tile: int, min_size: int) -> list[tuple[int, int]]:
    shapes = [shape]
    while max(shapes[-1]) > max(min_size, tile) and len(shapes) <= int(math.log2(tile)):
        r, c = shapes[-1]
        shapes.append((math.ceil(r / 2), math.ceil(c / 2)))
    return shapes


def _tiles_of_bands(
    bands: Iterable[np.ndarray], shape: tuple[int, int], samples: int, dtype: Any, tile: int
) -> Iterator[np.ndarray]:
    """Cut row bands of height ``tile`` (the last may be shorter) into zero-padded tiles, in TIFF tile order."""
    rows, cols = shape
    done = 0
    for band in bands:
        band = band.reshape(band.shape[0], band.shape[1], samples)
        if band.shape[1] != cols or band.shape[0] != min(tile, rows - done):
            raise OutputError(None, f"slide band of shape {band.shape[:2]} does not fit row {done} of a {shape} slide")
        for x in range(0, cols, tile):
            t = np.zeros((tile, tile, samples), dtype)
            part = band[:, x : x + tile]
            t[: part.shape[0], : part.shape[1]] = part
            yield t
        done += band.shape[0]
    if done != rows:
        raise OutputError(None, f"the slide bands stopped at row {done} of {rows}")


def _raw_bands(path: Path, shape: tuple[int, int], samples: int, dtype: Any, tile: int) -> Iterator[np.ndarray]:
    rows, cols = shape
    row_bytes = cols * samples * np.dtype(dtype).itemsize
    for y in range(0, rows, tile):
        h = min(tile, rows - y)
        yield np.fromfile(path, dtype=dtype, count=h * cols * samples, offset=y * row_bytes).reshape(h, cols, samples)


def write_pyramid_ome_tiff(
    path: str | os.PathLike,
    bands: Iterable[np.ndarray],
    shape: tuple[int, int],
    samples: int = 3,
    dtype: Any = np.uint8,
    tile: int = 256,
    pixel_size_um: float | None = None,
    name: str = SYNTHETIC_MARK,
    description: str = "",
    synthetic: bool = True,
    compression: str | None = "zlib",
    min_level_size: int = 256,
) -> Path:
    """Write a tiled, pyramidal OME-TIFF from row bands, with memory bounded by one band.

    Level 0 is written as the bands arrive; each band is also block-averaged by 2, 4, 8, ... and appended to a raw
    temporary file per level, from which the reduced levels are written as SubIFDs afterwards (halving until the long
    side is at most ``min_level_size``, at most ``log2(tile)`` times). The file is written under a temporary name and
    renamed when complete.

    Args:
        path: destination (``.ome.tif``).
        bands: row bands ``(tile, columns[, samples])`` from the top, the last one possibly shorter.
        shape: ``(rows, columns)`` of level 0.
        samples: 3 for RGB, 1 for grayscale.
        dtype: pixel type.
        tile: tile size (a multiple of 16) and band height.
        pixel_size_um: pixel size in micrometres (OME PhysicalSizeX/Y and the TIFF resolution tags).
        name: OME image name; ``"SYNTHETIC"`` is put in front when ``synthetic`` and missing.
        description: OME image description.
        synthetic: mark the image as synthetic (name, description and the TIFF Software tag).
        compression: ``"zlib"`` (lossless, no extra package), or ``None``.
        min_level_size: stop adding levels when the long side is at most this.

    Returns:
        The written path.

    Raises:
        OutputError: when the destination cannot be written or the bands do not fit ``shape``.
    """
    path = Path(path)
    if tile % 16:
        raise OutputError(path, f"tile size must be a multiple of 16, got {tile}")
    if synthetic:
        if not name.startswith(SYNTHETIC_MARK):
            name = f"{SYNTHETIC_MARK} {name}".strip()
        if not description.startswith(SYNTHETIC_MARK):
            description = f"{SYNTHETIC_MARK}: {description or 'generated by medtranslate, not an acquired image'}"
    shapes = _level_shapes(tuple(int(s) for s in shape), tile, min_level_size)
    metadata: dict[str, Any] = {"axes": "YXS" if samples > 1 else "YX", "Name": name, "Description": description}
    extra: dict[str, Any] = {}
    if pixel_size_um:
        metadata.update(
            PhysicalSizeX=pixel_size_um, PhysicalSizeY=pixel_size_um, PhysicalSizeXUnit="µm", PhysicalSizeYUnit="µm"
        )
        extra = {"resolution": (1e4 / pixel_size_um, 1e4 / pixel_size_um), "resolutionunit": "CENTIMETER"}
    common = {
        "dtype": dtype,
        "tile": (tile, tile),
        "photometric": "rgb" if samples == 3 else "minisblack",
        "compression": compression,
    }
    with tempfile.TemporaryDirectory(prefix=".pyramid.", dir=path.parent if path.parent.exists() else None) as spool:
        raws = [Path(spool) / f"level{i}.raw" for i in range(1, len(shapes))]
        handles = [open(p, "wb") for p in raws]  # noqa: SIM115 - closed below

        def level0() -> Iterator[np.ndarray]:
            for band in bands:
                b = band.reshape(band.shape[0], band.shape[1], samples)
                for i, fh in enumerate(handles, start=1):
                    np.ascontiguousarray(downsample_mean(b, 2**i).astype(dtype)).tofile(fh)
                yield b

        try:
            with atomic_path(path) as tmp:
                with tifffile.TiffWriter(tmp, bigtiff=True, ome=True) as tif:
                    tif.write(
                        data=_tiles_of_bands(level0(), shapes[0], samples, dtype, tile),
                        shape=shapes[0] + ((samples,) if samples > 1 else ()),
                        subifds=len(shapes) - 1,
                        metadata=metadata,
                        software=f"medtranslate ({SYNTHETIC_MARK})" if synthetic else "medtranslate",
                        **extra,
                        **common,
                    )
                    for fh in handles:
                        fh.close()
                    for lvl_shape, raw in zip(shapes[1:], raws):
                        lvl_bands = _raw_bands(raw, lvl_shape, samples, dtype, tile)
                        tif.write(
                            data=_tiles_of_bands(lvl_bands, lvl_shape, samples, dtype, tile),
                            shape=lvl_shape + ((samples,) if samples > 1 else ()),
                            subfiletype=1,
                            **common,
                        )
        finally:
            for fh in handles:
                fh.close()
    return path
