"""DICOM reading checked against dcm2niix on real data: classic series, enhanced multi-frame, rescale, series split."""

from __future__ import annotations

import logging

import numpy as np
import pydicom
import pytest
from io_helpers import canonical, dcm2niix, dicom_testfile, enhanced_from_emri, oblique_orientation, write_series

from medtranslate.errors import InputError
from medtranslate.io import load_image


def _world_equal(ours, ref_img, *, ref_values=None, atol_affine=1e-3):
    """Same voxels and an affine within 1e-3 mm, compared after both are put in closest-canonical order."""
    a_data, a_aff = canonical(ours.numpy()[0], ours.affine.numpy())
    values = np.asarray(ref_img.dataobj) if ref_values is None else ref_values
    b_data, b_aff = canonical(values, ref_img.affine)
    assert a_data.shape == b_data.shape
    np.testing.assert_array_equal(a_data, b_data)
    np.testing.assert_allclose(a_aff, b_aff, atol=atol_affine)


@pytest.mark.parametrize("oblique", [False, True], ids=["axial", "oblique"])
def test_ct_series_matches_dcm2niix(tmp_path, oblique):
    iop = oblique_orientation() if oblique else None
    write_series(tmp_path / "ct", 6, spacing=2.5, orientation=iop)
    ours = load_image(tmp_path / "ct")
    ref = dcm2niix(tmp_path / "ct", tmp_path / "ref")
    assert ours.shape == (1, 128, 128, 6)
    assert ours.dtype.is_floating_point is False  # integer CT stays integer, in HU
    np.testing.assert_allclose(ours.meta["spacing"], [0.661468, 0.661468, 2.5], atol=1e-5)
    _world_equal(ours, ref, ref_values=ref.get_fdata())  # dcm2niix keeps HU via scl_slope/scl_inter
    assert ours.meta["mt_format"] == "dicom"
    assert ours.meta["mt_dicom"]["Modality"] == "CT"
    assert ours.meta["mt_dicom"]["RescaleIntercept"] == -1024.0


def test_oblique_mr_series_matches_dcm2niix(tmp_path):
    write_series(tmp_path / "mr", 5, source="MR_small.dcm", spacing=1.3, orientation=oblique_orientation(-0.5, 0.6))
    ours = load_image(tmp_path / "mr")
    ref = dcm2niix(tmp_path / "mr", tmp_path / "ref")
    assert ours.shape == (1, 64, 64, 5) and ours.meta["mt_dicom"]["Modality"] == "MR"
    _world_equal(ours, ref, ref_values=ref.get_fdata())


def test_slices_sorted_by_position_not_name(tmp_path):
    offsets = [5.0, 0.0, 10.0, 2.5, 7.5]  # written in this order under shuffled names
    write_series(tmp_path / "s", 5, positions=offsets)
    img = load_image(tmp_path / "s")
    raw = pydicom.dcmread(dicom_testfile("CT_small.dcm")).pixel_array.astype(np.int32) - 1024
    # slice written k-th carries +7k: sorted by position the offsets are 1, 3, 0, 4, 2
    for z, k in enumerate([1, 3, 0, 4, 2]):
        np.testing.assert_array_equal(img.numpy()[0, :, :, z], (raw + 7 * k).T)
    assert img.affine[2, 2].item() == pytest.approx(2.5)


def test_ct_rescale_gives_hounsfield_units():
    ds = pydicom.dcmread(dicom_testfile("CT_small.dcm"))
    img = load_image(dicom_testfile("CT_small.dcm"))
    expected = ds.pixel_array.astype(np.int32) * int(ds.RescaleSlope) + int(ds.RescaleIntercept)
    np.testing.assert_array_equal(img.numpy()[0], expected.T)
    assert img.meta["mt_dicom"]["RescaleSlope"] == 1.0


def test_enhanced_ct_matches_dcm2niix(tmp_path):
    src = tmp_path / "ect"
    src.mkdir()
    path = dicom_testfile("eCT_Supplemental.dcm")
    (src / "ect.dcm").write_bytes(path.read_bytes())
    ours = load_image(src / "ect.dcm")
    ref = dcm2niix(src, tmp_path / "ref")
    ds = pydicom.dcmread(path)
    pvt = ds.SharedFunctionalGroupsSequence[0].PixelValueTransformationSequence[0]
    assert ours.shape == (1, 512, 512, 2)
    _world_equal(ours, ref, ref_values=ref.get_fdata())  # frames are stored in reverse order in the file
    raw = ds.pixel_array.astype(np.int32)  # the rescale comes from the shared PixelValueTransformationSequence
    assert int(ours.min()) == raw.min() * int(pvt.RescaleSlope) + int(pvt.RescaleIntercept)
    assert ours.affine[2, 2].item() == pytest.approx(-10.0)


def test_enhanced_mr_with_functional_groups_matches_dcm2niix(tmp_path):
    iop = oblique_orientation(0.4, -0.25)
    ds, order = enhanced_from_emri(tmp_path / "emr" / "emr.dcm", iop)
    ours = load_image(tmp_path / "emr" / "emr.dcm")
    ref = dcm2niix(tmp_path / "emr", tmp_path / "ref")
    _world_equal(ours, ref)
    frames = ds.pixel_array
    for f, z in enumerate(order):
        np.testing.assert_array_equal(ours.numpy()[0, :, :, z], frames[f].T)
    np.testing.assert_allclose(ours.meta["spacing"], [1.1, 0.9, 1.6], atol=1e-6)


def test_enhanced_mr_without_geometry_loads_with_default_affine(caplog):
    path = dicom_testfile("emri_small.dcm")
    with caplog.at_level(logging.WARNING):
        img = load_image(path)
    assert "no ImagePositionPatient" in caplog.text
    frames = pydicom.dcmread(path).pixel_array
    assert img.shape == (1, 64, 64, 10)
    np.testing.assert_array_equal(img.numpy()[0], frames.transpose(2, 1, 0))
    assert img.meta["spacing"][2] == pytest.approx(1.2)  # SpacingBetweenSlices


def test_folder_with_two_series_needs_series_uid(tmp_path):
    uid_a, _ = write_series(tmp_path / "d" / "a", 3, series_number=2)
    uid_b, _ = write_series(tmp_path / "d" / "b", 4, series_number=3, source="MR_small.dcm", spacing=1.0)
    with pytest.raises(InputError) as e:
        load_image(tmp_path / "d")
    msg = str(e.value)
    assert "\n" not in msg and str(tmp_path / "d") in msg and uid_a in msg and uid_b in msg
    img = load_image(tmp_path / "d", series_uid=uid_b)
    assert img.shape == (1, 64, 64, 4) and img.meta["mt_dicom"]["SeriesInstanceUID"] == uid_b
    with pytest.raises(InputError, match="has no series"):
        load_image(tmp_path / "d", series_uid="1.2.3")


def test_identity_tags_in_meta(tmp_path):
    write_series(tmp_path / "s", 2)
    info = load_image(tmp_path / "s").meta["mt_dicom"]
    ds = pydicom.dcmread(dicom_testfile("CT_small.dcm"))
    assert info["PatientID"] == ds.PatientID and info["PatientName"] == str(ds.PatientName)
    assert info["StudyInstanceUID"] == ds.StudyInstanceUID
    for tag in ("PatientBirthDate", "PatientSex", "StudyDate", "SeriesNumber", "Modality", "FrameOfReferenceUID"):
        assert tag in info
    assert len(info["SOPInstanceUIDs"].split("\\")) == 2
