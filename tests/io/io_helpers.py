"""Builders and independent checkers for the I/O tests (real DICOM from pydicom's data, dcm2niix, dciodvfy)."""

from __future__ import annotations

import hashlib
import random
import subprocess
import sys
from pathlib import Path

import numpy as np

BIN = Path(sys.executable).parent
DCM2NIIX = BIN / "dcm2niix"
DCIODVFY = BIN / "dciodvfy"
NIB_DATA = Path(__import__("nibabel").__file__).parent / "tests" / "data"


def dicom_testfile(name: str) -> Path:
    """A file of pydicom's test data (pydicom or pydicom-data), found offline."""
    from pydicom.data import get_testdata_file

    found = get_testdata_file(name)
    assert found, f"pydicom test file {name} is not installed"
    return Path(found)


def oblique_orientation(a: float = 0.3, b: float = 0.2) -> np.ndarray:
    """Row and column direction cosines (LPS) of a plane rotated about two axes."""
    rot_z = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rot_x = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    r = rot_x @ rot_z
    return np.concatenate([r[:, 0], r[:, 1]])


def write_series(
    folder: Path,
    n: int,
    *,
    source: str = "CT_small.dcm",
    spacing: float = 2.5,
    orientation: np.ndarray | None = None,
    series_uid: str | None = None,
    series_number: int = 7,
    positions: list[float] | None = None,
    seed: int = 0,
) -> tuple[str, list[float]]:
    """Write a genuine multi-slice series: one real slice re-positioned ``n`` times, shuffled file names.

    Each slice gets new SOPInstanceUIDs, its own pixel offset (so order matters) and reversed InstanceNumbers
    (so sorting by instance number would be wrong). Returns the series UID and the slice offsets along the normal.
    """
    import pydicom
    from pydicom.uid import generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    uid = series_uid or generate_uid()
    iop = np.asarray(orientation) if orientation is not None else None
    offsets = positions if positions is not None else [k * spacing for k in range(n)]
    names = list(range(len(offsets)))
    random.Random(seed).shuffle(names)
    for k, off in enumerate(offsets):
        ds = pydicom.dcmread(dicom_testfile(source))
        if iop is not None:
            ds.ImageOrientationPatient = [f"{v:.10f}" for v in iop]
        o = np.asarray([float(v) for v in ds.ImageOrientationPatient])
        normal = np.cross(o[:3], o[3:])
        origin = np.asarray([float(v) for v in ds.ImagePositionPatient])
        ds.ImagePositionPatient = [f"{v:.6f}" for v in origin + off * normal]
        ds.SeriesInstanceUID = uid
        ds.SeriesNumber = series_number
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = len(offsets) - k
        ds.SliceThickness = spacing
        arr = ds.pixel_array
        ds.PixelData = (arr + 7 * k).astype(arr.dtype).tobytes()
        ds.save_as(folder / f"img{names[k]:03d}.dcm")
    return uid, offsets


def enhanced_from_emri(path: Path, orientation: np.ndarray, spacing=(0.9, 1.1), step: float = 1.6, seed: int = 0):
    """Turn pydicom's enhanced MR (emri_small.dcm, which has no functional groups) into one with full per-frame
    geometry: shared PixelMeasures/PlaneOrientation, per-frame PlanePosition in shuffled order."""
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ds = pydicom.dcmread(dicom_testfile("emri_small.dcm"))
    n = int(ds.NumberOfFrames)
    order = list(range(n))
    random.Random(seed).shuffle(order)  # frame f lies at slice order[f]
    normal = np.cross(orientation[:3], orientation[3:])
    origin = np.array([-20.0, 15.0, 30.0])
    shared = Dataset()
    pm = Dataset()
    pm.PixelSpacing = [str(spacing[0]), str(spacing[1])]
    pm.SliceThickness = str(step)
    pm.SpacingBetweenSlices = str(step)
    po = Dataset()
    po.ImageOrientationPatient = [f"{v:.10f}" for v in orientation]
    shared.PixelMeasuresSequence = Sequence([pm])
    shared.PlaneOrientationSequence = Sequence([po])
    per = []
    for f in range(n):
        item = Dataset()
        pp = Dataset()
        pp.ImagePositionPatient = [f"{v:.6f}" for v in origin + order[f] * step * normal]
        item.PlanePositionSequence = Sequence([pp])
        fc = Dataset()
        fc.InStackPositionNumber = order[f] + 1
        fc.StackID = "1"
        fc.DimensionIndexValues = [1, order[f] + 1]
        item.FrameContentSequence = Sequence([fc])
        per.append(item)
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    ds.PerFrameFunctionalGroupsSequence = Sequence(per)
    ds.SpacingBetweenSlices = str(step)  # the top-level value, which dcm2niix reads too, must agree
    ds.PatientID = "EMRI1"
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path)
    return ds, order


def dcm2niix(folder: Path, out: Path):
    """Run dcm2niix on a folder and return the nibabel image it wrote (exactly one)."""
    import nibabel as nib

    out.mkdir(parents=True, exist_ok=True)
    run = subprocess.run(
        [str(DCM2NIIX), "-z", "n", "-b", "n", "-f", "ref", "-o", str(out), str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    written = sorted(out.glob("*.nii"))
    assert len(written) == 1, (written, run.stdout)
    return nib.load(written[0])


def dciodvfy_errors(path: Path) -> tuple[list[str], list[str]]:
    """(errors, warnings) reported by dciodvfy for one DICOM file."""
    run = subprocess.run([str(DCIODVFY), str(path)], capture_output=True, text=True, timeout=60)
    lines = (run.stdout + run.stderr).splitlines()
    return [x for x in lines if x.startswith("Error")], [x for x in lines if x.startswith("Warning")]


def canonical(data: np.ndarray, affine: np.ndarray):
    """(array, affine) reoriented to the closest RAS+ axis order, for comparisons in world space."""
    import nibabel as nib

    img = nib.as_closest_canonical(nib.Nifti1Image(np.asarray(data), np.asarray(affine, dtype=np.float64)))
    return np.asarray(img.dataobj), img.affine


def tree_digest(root: Path) -> dict[str, tuple[str, int]]:
    """sha256 and mtime of every file under ``root`` (to prove inputs were not modified)."""
    out = {}
    for p in sorted(root.rglob("*") if root.is_dir() else [root]):
        if p.is_file():
            out[str(p)] = (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
    return out
