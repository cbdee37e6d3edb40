"""``medtranslate convert``: NIfTI -> DICOM -> NIfTI keeps voxels and geometry; no traceback reaches users."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel
import numpy as np
import pytest
from convert_helpers import NIB_DATA, tree_state, write_ct_series

from medtranslate.cli import convert as convert_cli
from medtranslate.cli.main import main
from medtranslate.io.batch import FORMATS


def _canonical(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Voxels and affine in the closest RAS orientation: a flipped or permuted but equivalent grid compares equal."""
    img = nibabel.as_closest_canonical(nibabel.load(path))
    return np.squeeze(np.asarray(img.dataobj, dtype=np.float64)), img.affine


def _oblique(tmp_path: Path) -> Path:
    """Volume 0 of nibabel's example_nifti2 (an oblique, tilted grid), as a 3D NIfTI-1."""
    img = nibabel.load(NIB_DATA / "example_nifti2.nii.gz")
    path = tmp_path / "oblique.nii.gz"
    nibabel.save(nibabel.Nifti1Image(np.asarray(img.dataobj)[..., 0], img.affine), path)
    return path


@pytest.mark.parametrize("source", ["anatomical", "oblique"])
def test_nifti_dicom_nifti_roundtrip(tmp_path, source):
    src = tmp_path / "in"
    src.mkdir()
    if source == "anatomical":
        first = shutil.copy(NIB_DATA / "anatomical.nii", src / "anatomical.nii")
    else:
        first = _oblique(src)
    assert main(["-q", "convert", str(src), str(tmp_path / "dcm"), "--to", "dicom"]) == 0
    folders = [p for p in (tmp_path / "dcm").rglob("*") if p.is_dir() and any(p.glob("*.dcm"))]
    assert len(folders) == 1, folders
    assert main(["-q", "convert", str(tmp_path / "dcm"), str(tmp_path / "back"), "--to", "nifti"]) == 0
    (back,) = list((tmp_path / "back").rglob("*.nii.gz"))

    want_data, want_affine = _canonical(Path(first))
    got_data, got_affine = _canonical(back)
    assert got_data.shape == want_data.shape
    np.testing.assert_allclose(got_affine, want_affine, atol=1e-3)
    np.testing.assert_allclose(got_data, want_data, atol=1e-3)


def test_dicom_output_is_a_derived_series(tmp_path):
    import pydicom

    src = tmp_path / "in"
    uid, _ = write_ct_series(src, 3, series_number=2)
    out = tmp_path / "out"
    assert main(["-q", "convert", str(src), str(out), "--to", "dicom", "--anonymize"]) == 0
    files = sorted(out.rglob("*.dcm"))
    assert len(files) == 3
    ds = pydicom.dcmread(files[0])
    assert ds.SeriesInstanceUID != uid and "DERIVED" in ds.ImageType
    assert "medtranslate" in str(ds.get("SeriesDescription", "")).lower()
    assert str(ds.get("PatientID", "")) != "1CT1"  # CT_small's patient is gone with --anonymize


@pytest.mark.slow  # two fresh interpreters and two spawned workers import torch and MONAI
def test_cli_subprocess_reports_without_traceback(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(NIB_DATA / "standard.nii.gz", src / "good.nii.gz")
    (src / "broken.nii.gz").write_bytes((NIB_DATA / "example_nifti2.nii.gz").read_bytes()[:5000])
    before = tree_state(src)
    report = tmp_path / "report.csv"
    cmd = [sys.executable, "-m", "medtranslate", "convert", str(src), str(tmp_path / "out"), "--to", "nifti"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    run = subprocess.run([*cmd, "-j", "2", "--report", str(report)], capture_output=True, text=True, env=env)
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    lines = [line for line in run.stderr.splitlines() if "broken.nii.gz" in line]
    assert len(lines) == 1 and lines[0].startswith("medtranslate: error: "), run.stderr  # the README's form
    assert "1 converted, 0 skipped, 1 failed" in run.stderr
    assert report.read_text().count("\n") == 3  # header + 2 items
    assert tree_state(src) == before

    rerun = subprocess.run([*cmd[:3], "-q", *cmd[3:]], capture_output=True, text=True, env=env)
    assert rerun.returncode == 1 and "Traceback" not in rerun.stderr
    assert len(rerun.stderr.strip().splitlines()) == 1, rerun.stderr  # only the still-broken input


def test_cli_json_report_and_formats(tmp_path):
    assert tuple(FORMATS) == convert_cli.FORMATS
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(NIB_DATA / "standard.nii.gz", src / "s.nii.gz")
    report = tmp_path / "r.json"
    assert main(["-q", "convert", str(src), str(tmp_path / "o"), "--to", "nrrd", "--report", str(report)]) == 0
    data = json.loads(report.read_text())
    assert data["to"] == "nrrd" and data["items"][0]["output"].endswith("s.nrrd")
    assert (tmp_path / "o" / "s.nrrd").is_file()
