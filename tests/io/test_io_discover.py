"""find_series: one item per image file and per DICOM series (across folders), deterministic keys and order."""

from __future__ import annotations

import hashlib
import shutil

import pydicom
import pytest
from io_helpers import NIB_DATA, dicom_testfile, tree_digest, write_series

from medtranslate.errors import InputError
from medtranslate.io import SeriesRef, find_series


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "in"
    (root / "patient1").mkdir(parents=True)
    shutil.copy(NIB_DATA / "standard.nii.gz", root / "patient1" / "ct.nii.gz")
    shutil.copy(NIB_DATA / "anatomical.nii", root / "a.nii")
    (root / "a.png").write_bytes(b"not a png")
    ct_uid, _ = write_series(root / "dicom" / "mixed", 3, series_number=2)
    mr_uid, _ = write_series(root / "dicom" / "mixed" / "mr", 2, source="MR_small.dcm", spacing=1.0, series_number=5)
    write_series(root / "elsewhere", 2, series_uid=ct_uid, positions=[7.5, 10.0], series_number=2)  # same series
    no_suffix = root / "dicom" / "IM0001"
    shutil.copy(dicom_testfile("CT_small.dcm"), no_suffix)
    (root / "notes.txt").write_text("side-car")
    (root / ".DS_Store").write_bytes(b"\0")
    (root / "junk.bin").write_bytes(b"\1\2\3")
    (root / "broken.dcm").write_text("not dicom")
    return root, ct_uid, mr_uid


def test_items_kinds_and_keys(tree):
    root, ct_uid, mr_uid = tree
    before = tree_digest(root)
    items = find_series(root)
    assert items == find_series(root)  # deterministic
    assert [i.key for i in items] == sorted(i.key for i in items)
    by_uid = {i.series_uid: i for i in items if i.kind == "dicom"}
    ct = by_uid[ct_uid]
    assert len(ct.paths) == 5  # grouped across two folders
    patient = pydicom.dcmread(dicom_testfile("CT_small.dcm")).PatientID
    assert ct.key == f"dicom/{patient}_2_{hashlib.sha1(ct_uid.encode()).hexdigest()[:8]}"
    assert len(by_uid[mr_uid].paths) == 2
    assert len(by_uid) == 3  # CT, MR, and the suffix-less CT_small file (its own series)
    keys = {i.key: i.kind for i in items if i.kind != "dicom"}
    assert keys["patient1/ct"] == "nifti"
    assert keys["a_nii"] == "nifti" and keys["a_png"] == "png"
    assert keys["junk.bin"] == "unknown" and keys["broken"] == "unknown"
    assert not any("notes" in k or "DS_Store" in k for k in keys)
    assert all("/" not in k.split("/")[-1] and ".." not in k for k in keys)
    vol = ct.load()
    assert vol.shape == (1, 128, 128, 5)
    assert vol.affine[2, 2].item() == pytest.approx(2.5)
    with pytest.raises(InputError) as e:
        next(i for i in items if i.key == "broken").load()
    assert "broken.dcm" in str(e.value)
    assert tree_digest(root) == before


def test_dicomdir_is_not_an_item(tmp_path):
    from medtranslate.io.dicom_series import read_header

    shutil.copy(dicom_testfile("DICOMDIR"), tmp_path / "index.dcm")  # an index under an image-like name
    write_series(tmp_path / "s", 2)
    assert read_header(tmp_path / "index.dcm").is_index
    items = find_series(tmp_path)
    assert [i.kind for i in items] == ["dicom"] and len(items[0].paths) == 2


def test_root_may_be_a_file(tmp_path):
    p = tmp_path / "x.nii.gz"
    shutil.copy(NIB_DATA / "standard.nii.gz", p)
    (item,) = find_series(p)
    assert item == SeriesRef(key="x", kind="nifti", paths=(p,))
    assert item.load().shape == (1, 4, 5, 7)
    with pytest.raises(InputError, match="does not exist"):
        find_series(tmp_path / "missing")
