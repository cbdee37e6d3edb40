"""16-bit storage of real values with RescaleSlope/Intercept, and DICOM decimal-string (DS) formatting."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Quantized", "ds_str", "quantize16"]

_TOP = 65535


def ds_str(value: float) -> str:
    """Format a number as a DICOM DS value (at most 16 characters) with as many significant digits as fit.

    Args:
        value: a finite number.
    """
    for digits in range(15, 0, -1):
        text = f"{value:.{digits}g}"
        if len(text) <= 16:
            return text
    raise ValueError(f"cannot format {value!r} as a DICOM decimal string")


@dataclass(frozen=True)
class Quantized:
    """Stored integers and the Modality LUT that turns them back into values: ``value = stored * slope + intercept``.

    Args:
        stored: int16 or uint16 array.
        slope: RescaleSlope (exactly representable as a DS string).
        intercept: RescaleIntercept (likewise).
        signed: PixelRepresentation 1 (int16) or 0 (uint16).
    """

    stored: np.ndarray
    slope: float
    intercept: float
    signed: bool

    @property
    def step(self) -> float:
        """The quantisation step: round-trip errors are at most half of it."""
        return self.slope


def quantize16(values: np.ndarray) -> Quantized:
    """Choose 16-bit storage for ``values``: exact for integers that fit, else a linear map onto 0..65535.

    Integer-valued data within int16 are stored as they are (slope 1, intercept 0: CT in HU stays exact); integer
    data spanning at most 65536 values use an integer intercept; anything else uses ``slope = range / 65534`` with
    slope and intercept rounded to what a DS string holds *before* quantising, so ``stored * slope + intercept``
    is within ``slope / 2`` of every input value.

    Args:
        values: finite real values (any shape).

    Returns:
        The stored array and its rescale parameters.

    Raises:
        ValueError: when ``values`` holds NaN or infinity (DICOM cannot store them).
    """
    v = np.asarray(values, dtype=np.float64)
    if not np.isfinite(v).all():
        raise ValueError("the image holds NaN or infinite values, which DICOM cannot store")
    lo, hi = (float(v.min()), float(v.max())) if v.size else (0.0, 0.0)
    integral = bool(np.all(v == np.round(v)))
    if integral and lo >= -32768 and hi <= 32767:
        return Quantized(v.astype(np.int16), 1.0, 0.0, True)
    if integral and hi - lo <= _TOP and abs(lo) < 1e15:
        return Quantized((v - lo).astype(np.uint16), 1.0, lo, False)
    intercept, bump = float(ds_str(lo)), 1e-12
    while intercept > lo:  # rounding to DS went up: step down until every value is >= intercept
        intercept = float(ds_str(lo - (abs(lo) + (hi - lo)) * bump))
        bump *= 10
    span = hi - intercept
    slope, bump = (float(ds_str(span / (_TOP - 1))) if span > 0 else 1.0), 1e-12
    while intercept + slope * _TOP < hi:  # DS rounding went down: grow until the top code reaches hi
        slope = float(ds_str(slope * (1 + bump)))
        bump *= 10
    stored = np.clip(np.round((v - intercept) / slope), 0, _TOP).astype(np.uint16)
    return Quantized(stored, slope, intercept, False)
