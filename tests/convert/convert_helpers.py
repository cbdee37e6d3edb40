"""Builders of small source trees for the conversion tests, from real data shipped in pydicom and nibabel."""

from __future__ import annotations

import copy
import hashlib
import os
from pathlib import Path

import nibabel
import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

NIB_DATA = Path(nibabel.__file__).parent / "tests" / "data"
CT_SMALL = Path(get_testdata_file("CT_small.dcm"))  # a real 128x128 CT slice, int16, HU = value - 1024


def write_ct_series(
    folder: Path,
    n: int = 3,
    *,
    series_number: int = 1,
    name: str = "ct",
    spacing: float = 5.0,
    positions: list[float] | None = None,
    orientations: dict[int, list[float]] | None = None,
    drop_pixels: bool = False,
) -> tuple[str, list[Path]]:
    """Write an ``n``-slice CT series (new series and SOP UIDs) made from CT_small, one file per slice.

    Args:
        folder: where the slice files go (created).
        n: number of slices.
        series_number: SeriesNumber of the new series.
        name: file name prefix.
        spacing: slice spacing in mm along the slice normal (z).
        positions: explicit z offsets per slice (overrides ``spacing``).
        orientations: ImageOrientationPatient overrides by slice index.
        drop_pixels: remove PixelData from every slice.

    Returns:
        (SeriesInstanceUID, slice paths).
    """
    folder.mkdir(parents=True, exist_ok=True)
    base = pydicom.dcmread(CT_SMALL)
    pixels = base.pixel_array
    uid = generate_uid()
    x0, y0, z0 = (float(v) for v in base.ImagePositionPatient)
    paths = []
    for k in range(n):
        ds = copy.deepcopy(base)
        ds.SeriesInstanceUID = uid
        ds.SeriesNumber = series_number
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = k + 1
        z = z0 + (positions[k] if positions is not None else k * spacing)
        ds.ImagePositionPatient = [x0, y0, z]
        ds.SliceLocation = z
        if orientations and k in orientations:
            ds.ImageOrientationPatient = orientations[k]
        if drop_pixels:
            del ds.PixelData
        else:  # every slice a little different, so slice order matters
            ds.PixelData = (pixels + 7 * k * (series_number + 1)).astype(pixels.dtype).tobytes()
        path = folder / f"{name}_{series_number}_{k:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return uid, paths


def write_nifti(path: Path, data: np.ndarray, affine: np.ndarray | None = None) -> Path:
    """Write ``data`` as NIfTI with ``affine`` (a non-trivial one by default)."""
    if affine is None:
        affine = np.array([[-1.5, 0, 0, 20.0], [0, 2.0, 0, -10.0], [0, 0, 3.0, 5.0], [0, 0, 0, 1]])
    path.parent.mkdir(parents=True, exist_ok=True)
    nibabel.save(nibabel.Nifti1Image(data, affine), path)
    return path


def tree_state(root: Path) -> dict[str, tuple[str, int]]:
    """sha1 and mtime (ns) of every file under ``root``, to prove that inputs are never touched."""
    state = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            state[str(p.relative_to(root))] = (hashlib.sha1(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
    return state
