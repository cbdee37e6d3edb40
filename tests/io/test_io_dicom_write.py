"""Derived DICOM output: dciodvfy-clean, geometry and values round-trip, identity / anonymisation / synthetic tags."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
import torch
from io_helpers import NIB_DATA, canonical, dciodvfy_errors, dcm2niix, write_series
from monai.data import MetaTensor

from medtranslate.errors import OutputError
from medtranslate.io import load_image, save_image
from medtranslate.io.quantize import ds_str, quantize16


def _files(folder):
    return sorted(folder.glob("*.dcm"))


def _assert_same_world(a, b, atol=1e-3):
    a_data, a_aff = canonical(a.numpy()[0], a.affine.numpy())
    b_data, b_aff = canonical(b.numpy()[0], b.affine.numpy())
    np.testing.assert_array_equal(a_data, b_data)
    np.testing.assert_allclose(a_aff, b_aff, atol=atol)


def test_nifti_to_dicom_passes_dciodvfy_and_round_trips(tmp_path):
    src = load_image(NIB_DATA / "anatomical.nii")  # real, big-endian int16, oblique-free sform
    out = save_image(src, tmp_path / "dcm", fmt="dicom")
    files = _files(out)
    assert len(files) == src.shape[-1]
    for f in (files[0], files[-1]):
        errors, _warnings = dciodvfy_errors(f)
        assert errors == [], errors
    back = load_image(out)
    _assert_same_world(src, back)
    assert back.dtype == torch.int16  # integers that fit stay exact, without rescale
    save_image(back, tmp_path / "back.nii.gz")
    again = load_image(tmp_path / "back.nii.gz")
    _assert_same_world(src, again)
    ref = dcm2niix(out, tmp_path / "ref")  # an independent reader agrees on our output
    r_data, r_aff = canonical(ref.get_fdata(), ref.affine)
    s_data, s_aff = canonical(src.numpy()[0], src.affine.numpy())
    np.testing.assert_array_equal(r_data, s_data)
    np.testing.assert_allclose(r_aff, s_aff, atol=1e-3)


@pytest.mark.parametrize("spatial", [2, 3], ids=["2d", "3d"])
def test_float_values_round_trip_within_quantisation_step(tmp_path, spatial):
    shape = (1, 9, 7, 5)[: spatial + 1]
    values = torch.linspace(-3.3, 1234.56, int(np.prod(shape)), dtype=torch.float32).reshape(shape)
    affine = torch.tensor([[0, -0.8, 0, 12.5], [0.7, 0, 0, -3.0], [0, 0, 2.2, 40.0], [0, 0, 0, 1]], dtype=torch.float64)
    img = MetaTensor(values, affine=affine)
    out = save_image(img, tmp_path / "f", fmt="dicom")
    ds = pydicom.dcmread(_files(out)[0])
    step = float(ds.RescaleSlope)
    assert (ds.BitsAllocated, ds.BitsStored, ds.PixelRepresentation) == (16, 16, 0)
    back = load_image(out)
    assert back.shape == img.shape
    assert float((back - values).abs().max()) <= step / 2 + 1e-4
    np.testing.assert_allclose(back.affine.numpy(), affine.numpy(), atol=1e-5)
    assert errors_of(_files(out)[0]) == []


def errors_of(path):
    return dciodvfy_errors(path)[0]


def test_quantize16_chooses_exact_storage_for_integers():
    q = quantize16(np.array([-1024.0, 0.0, 3071.0]))
    assert q.signed and (q.slope, q.intercept) == (1.0, 0.0)
    q = quantize16(np.array([0.0, 60000.0]))
    assert not q.signed and q.slope == 1.0
    np.testing.assert_array_equal(q.stored * q.slope + q.intercept, [0.0, 60000.0])
    v = np.random.default_rng(0).normal(0, 1e-3, 1000)
    q = quantize16(v)
    assert np.abs(q.stored * q.slope + q.intercept - v).max() <= q.slope / 2 * (1 + 1e-9)
    assert len(ds_str(q.slope)) <= 16 and float(ds_str(q.slope)) == q.slope
    with pytest.raises(ValueError):
        quantize16(np.array([0.0, np.nan]))


def test_derived_series_tags_identity_and_references(tmp_path):
    write_series(tmp_path / "ct", 4)
    src = load_image(tmp_path / "ct")
    syn = src.float() * 0.5 + 10.25
    out = save_image(syn, tmp_path / "syn", fmt="dicom", reference=src, synthetic=True, description="cyclegan v1")
    files = _files(out)
    orig = [pydicom.dcmread(f) for f in sorted((tmp_path / "ct").glob("*.dcm"))]
    src_sops = src.meta["mt_dicom"]["SOPInstanceUIDs"].split("\\")
    uids = set()
    for k, f in enumerate(files):
        ds = pydicom.dcmread(f)
        assert list(ds.ImageType[:2]) == ["DERIVED", "SECONDARY"]
        assert ds.SeriesDescription.startswith("SYNTHETIC") and "cyclegan v1" in ds.SeriesDescription
        assert ds.SeriesInstanceUID != orig[0].SeriesInstanceUID
        assert ds.SOPInstanceUID not in {o.SOPInstanceUID for o in orig}
        assert (ds.PatientID, str(ds.PatientName), ds.StudyInstanceUID) == (
            orig[0].PatientID,
            str(orig[0].PatientName),
            orig[0].StudyInstanceUID,
        )
        assert ds.FrameOfReferenceUID == orig[0].FrameOfReferenceUID
        assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == orig[0].SeriesInstanceUID
        assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID == src_sops[k]  # same slice of the source
        assert ds.ConversionType == "SYN"  # Secondary Capture: a synthetic image without a stated modality
        uids.add(ds.SOPInstanceUID)
    assert len(uids) == len(files)
    assert errors_of(files[0]) == []
    mr = save_image(syn, tmp_path / "mr", fmt="dicom", reference=src, synthetic=True, modality="MR")
    ds = pydicom.dcmread(_files(mr)[0])
    assert ds.Modality == "MR" and ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.4"
    assert errors_of(_files(mr)[0]) == []


def test_conversion_description_and_anonymisation(tmp_path):
    write_series(tmp_path / "ct", 3)
    src = load_image(tmp_path / "ct")
    plain = pydicom.dcmread(_files(save_image(src, tmp_path / "plain", fmt="dicom"))[0])
    assert "converted by medtranslate" in plain.SeriesDescription.lower()
    assert plain.Modality == "CT" and plain.RescaleType == "HU"
    anon_dir = save_image(src, tmp_path / "anon", fmt="dicom", anonymize=True)
    anon = pydicom.dcmread(_files(anon_dir)[0])
    orig = src.meta["mt_dicom"]
    assert orig["PatientID"] not in (anon.PatientID, str(anon.PatientName))
    assert anon.StudyInstanceUID != orig["StudyInstanceUID"] and anon.PatientIdentityRemoved == "YES"
    assert "ReferencedSeriesSequence" not in anon and "SourceImageSequence" not in anon
    raw = _files(anon_dir)[0].read_bytes()
    assert orig["PatientID"].encode() not in raw and orig["StudyInstanceUID"].encode() not in raw
    assert errors_of(_files(anon_dir)[0]) == []


def test_rgb_volume_written_as_rgb_series(tmp_path):
    rgb = torch.randint(0, 256, (3, 6, 5, 4), dtype=torch.uint8)
    img = MetaTensor(rgb, affine=torch.diag(torch.tensor([0.5, 0.6, 2.0, 1.0], dtype=torch.float64)))
    out = save_image(img, tmp_path / "rgb", fmt="dicom")
    ds = pydicom.dcmread(_files(out)[0])
    assert (ds.PhotometricInterpretation, ds.SamplesPerPixel, ds.BitsAllocated) == ("RGB", 3, 8)
    assert errors_of(_files(out)[0]) == []
    back = load_image(out)
    assert back.shape == img.shape
    np.testing.assert_array_equal(back.numpy(), rgb.numpy())
    np.testing.assert_allclose(back.affine.numpy(), img.affine.numpy(), atol=1e-6)


def test_dicom_refuses_nan_and_sheared_grids(tmp_path):
    bad = torch.zeros(1, 4, 4, 2)
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(OutputError, match="NaN"):
        save_image(MetaTensor(bad), tmp_path / "nan", fmt="dicom")
    shear = torch.tensor([[1, 0.5, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]])
    sheared = MetaTensor(torch.zeros(1, 4, 4, 2), affine=shear)
    with pytest.raises(OutputError, match="perpendicular"):
        save_image(sheared, tmp_path / "shear", fmt="dicom")
    assert not (tmp_path / "nan").exists() and not list(tmp_path.glob(".*mt-tmp*"))
