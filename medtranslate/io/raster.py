"""2D raster images: PNG and JPEG, read with MONAI's PILReader, written with Pillow.

Writing uses Pillow directly: MONAI's PILWriter rescales by a fixed factor, whereas these rules keep exact integer
values whenever the data fit 8 or 16 bits and say so in a warning when they do not.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from medtranslate.errors import InputError, OutputError
from medtranslate.io.validate import to_metatensor
from medtranslate.utils.atomic import atomic_path

if TYPE_CHECKING:
    from monai.data import MetaTensor

__all__ = ["load_raster", "save_raster", "to_display_integers"]

logger = logging.getLogger(__name__)


def _normalise_mode(img: Any) -> Any:
    """Palette, CMYK, YCbCr and bilevel images to L/RGB; alpha dropped (stored images are 1 or 3 channels)."""
    mode = img.mode
    if mode in ("L", "RGB", "I", "F") or mode.startswith("I;16"):
        return img
    if mode in ("1", "LA", "La"):
        return img.convert("L")
    if mode == "P":
        return img.convert("RGBA" if "transparency" in img.info else "RGB").convert("RGB")
    return img.convert("RGB")


def load_raster(path: Path, fmt: str) -> MetaTensor:
    """Read a PNG or JPEG as ``(C, X, Y)`` (C = 1 or 3) with a unit-spacing identity affine.

    Args:
        path: the file.
        fmt: ``"png"`` or ``"jpeg"``.

    Raises:
        InputError: when the file is not a readable image.
    """
    from monai.data import PILReader  # reading only: DICOM conversions import this module and never load MONAI

    reader = PILReader(converter=_normalise_mode, reverse_indexing=True)
    try:
        data, meta = reader.get_data(reader.read(os.fspath(path)))
        data = np.array(data)
    except Exception as e:  # noqa: BLE001 - Pillow raises UnidentifiedImageError/OSError/SyntaxError for bad files
        raise InputError(path, f"cannot be read as {fmt.upper()} ({' '.join(str(e).split())[:200]})") from e
    array = np.moveaxis(data, -1, 0) if data.ndim == 3 else data[None]  # (W, H[, C]) -> (C, X, Y)
    return to_metatensor(array, np.eye(4), path, fmt, None)


def to_display_integers(array: np.ndarray, path: Path, max_bits: int) -> np.ndarray:
    """Convert values to uint8 (or uint16 when ``max_bits`` is 16) for display formats.

    Rules: integers (or integer-valued floats) already within 0..255 (0..65535) are kept exactly; floats within
    [0, 1] are scaled by 255; anything else is min-max rescaled to the full range with a warning.

    Args:
        array: the values.
        path: the destination, named in the warning.
        max_bits: 8 or 16.

    Returns:
        A uint8 or uint16 array of the same shape.
    """
    a = np.asarray(array)
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    finite = a[np.isfinite(a)] if np.issubdtype(a.dtype, np.floating) else a
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    integral = np.issubdtype(a.dtype, np.integer) or bool(np.all(np.mod(finite, 1) == 0))
    if integral and lo >= 0 and hi <= 255:
        return np.nan_to_num(a).astype(np.uint8)
    if integral and lo >= 0 and hi <= 65535 and max_bits == 16:
        return np.nan_to_num(a).astype(np.uint16)
    if np.issubdtype(a.dtype, np.floating) and lo >= 0 and hi <= 1:
        return np.round(np.nan_to_num(a) * 255).astype(np.uint8)
    top = 255 if max_bits == 8 else 65535
    logger.warning(
        "%s: values %.6g..%.6g do not fit %d-bit pixels; rescaled linearly to 0..%d",
        os.fspath(path),
        lo,
        hi,
        max_bits,
        top,
    )
    scaled = (np.nan_to_num(a.astype(np.float64), nan=lo) - lo) / ((hi - lo) or 1.0) * top
    return np.round(np.clip(scaled, 0, top)).astype(np.uint8 if top == 255 else np.uint16)


def save_raster(array: np.ndarray, path: Path, fmt: str, text: Mapping[str, str] | None = None) -> Path:
    """Write a 2D ``(C, X, Y)`` image (C = 1 or 3) as PNG (8/16-bit) or JPEG (8-bit, quality 95).

    Args:
        array: channel-first 2D data; a 3D array with one slice is accepted.
        path: destination; written atomically.
        fmt: ``"png"`` or ``"jpeg"``.
        text: PNG text chunks (``tEXt``), e.g. ``{"Description": "SYNTHETIC ..."}``; JPEG ignores them.

    Returns:
        The final path.

    Raises:
        OutputError: for a 3D image (several slices) or 16-bit colour.
    """
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 3:
        raise OutputError(
            path,
            f"{fmt.upper()} holds 2D images only, this one is 3D (shape {tuple(array.shape[1:])}); "
            "save it as .nii.gz or .tif, or save slices one by one",
        )
    channels = array.shape[0]
    bits = 16 if fmt == "png" and channels == 1 else 8
    pixels = to_display_integers(array, path, bits)
    pixels = np.ascontiguousarray(np.moveaxis(pixels, 0, -1).transpose(1, 0, 2))  # (C, X, Y) -> (Y, X, C)
    img = Image.fromarray(pixels[..., 0] if channels == 1 else pixels)
    with atomic_path(path) as tmp:
        if fmt == "png":
            info = PngInfo()
            for key, value in (text or {}).items():
                info.add_text(str(key), str(value))
            img.save(tmp, format="PNG", pnginfo=info)
        else:
            img.save(tmp, format="JPEG", quality=95)
    return Path(path)
