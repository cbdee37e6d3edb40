"""Fixtures of the conversion tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from convert_helpers import NIB_DATA, write_ct_series


@pytest.fixture
def mixed_tree(tmp_path: Path) -> Path:
    """A tree with two CT series sharing one folder, a real NIfTI (nibabel's anatomical.nii) and a tiny one."""
    src = tmp_path / "src"
    write_ct_series(src / "patient1" / "dicom", 3, series_number=2)
    write_ct_series(src / "patient1" / "dicom", 4, series_number=3)
    (src / "patient2").mkdir(parents=True)
    shutil.copy(NIB_DATA / "anatomical.nii", src / "patient2" / "t1.nii")
    shutil.copy(NIB_DATA / "standard.nii.gz", src / "standard.nii.gz")
    return src
