"""Real DICOM files of pydicom and pydicom-data that the corpus trial (benchmarks/dicom_corpus.py) found wrong.

Each conversion must equal pydicom's own decoding (palette, Modality LUT, DoseGridScaling, JPEG-LS / JPEG lossless
through the pylibjpeg plugins) or be refused with one line that names the file and the problem.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_color_lut, apply_modality_lut

from medtranslate.errors import InputError
from medtranslate.io.batch import convert_tree
from medtranslate.io.dicom_read import read_dicom_files
from medtranslate.io.discover import find_series

NIB_DATA = Path(nib.__file__).parent / "tests" / "data"


def corpus_file(name: str) -> Path:
    """A file of pydicom's test data or of pydicom-data, found on disk only (pydicom would download a missing one)."""
    found = get_testdata_file(name, download=False)
    if found is None:
        pytest.skip(f"{name} is in pydicom-data, which is not installed")
    return Path(found)


def _slices(img) -> np.ndarray:
    """A read image (C, X, Y[, Z]) back to pydicom's layout (frames, rows, cols[, C])."""
    arr = np.asarray(img.array)
    arr = arr[..., None] if arr.ndim == 3 else arr  # (C, X, Y) -> (C, X, Y, 1)
    out = arr.transpose(3, 2, 1, 0)  # (Z, rows, cols, C)
    return out[..., 0] if out.shape[-1] == 1 else out


@pytest.mark.parametrize(
    "name",
    [
        "OBXXXX1A.dcm",
        "OBXXXX1A_expb.dcm",
        "OBXXXX1A_rle.dcm",
        "examples_palette.dcm",
        "gdcm-US-ALOKA-16.dcm",
        "gdcm-US-ALOKA-16_big.dcm",
    ],
)
def test_single_frame_palette_colour_is_the_whole_rgb_image(name):
    path = corpus_file(name)
    ds = pydicom.dcmread(path)
    expected = apply_color_lut(ds.pixel_array, ds)  # (rows, cols, 3)
    img = read_dicom_files([path], path)
    assert img.array.shape == (3, int(ds.Columns), int(ds.Rows))  # not the first row only
    np.testing.assert_array_equal(_slices(img)[0], expected)
    assert "PALETTE COLOR" in img.meta["mt_note"]


def test_modality_lut_sequence_is_applied():
    path = corpus_file("mlut_18.dcm")
    ds = pydicom.dcmread(path)
    expected = apply_modality_lut(ds.pixel_array, ds)
    assert not np.array_equal(expected, ds.pixel_array)  # the LUT changes the values
    img = read_dicom_files([path], path)
    np.testing.assert_array_equal(_slices(img)[0], expected)
    assert img.meta["mt_note"] == "Modality LUT Sequence applied"


@pytest.mark.parametrize("name", ["rtdose.dcm", "rtdose_1frame.dcm", "rtdose_rle.dcm"])
def test_rt_dose_is_written_in_gray_as_float_and_reported(tmp_path, name):
    path = corpus_file(name)
    ds = pydicom.dcmread(path)
    frames = ds.pixel_array.reshape(-1, int(ds.Rows), int(ds.Columns))
    expected = (frames.astype(np.float64) * float(ds.DoseGridScaling)).astype(np.float32)
    report = tmp_path / "report.json"
    result = convert_tree(path, tmp_path / "out", "nifti", report=report, progress=False)
    assert result.ok, result.failed
    (out,) = (tmp_path / "out").rglob("*.nii.gz")
    data = np.asanyarray(nib.load(out).dataobj)
    assert data.dtype == np.float32
    got = data.T[None] if data.ndim == 2 else data.transpose(2, 1, 0)
    # frames are sorted along the slice normal; rtdose's offsets grow, so the order is the stored one
    np.testing.assert_array_equal(got, expected)
    (item,) = json.loads(report.read_text())["items"]
    assert ds.DoseUnits == "RELATIVE"  # pydicom's dose files; Gy below
    assert item["note"] == "RT Dose: DoseGridScaling applied, values are dose in DoseUnits RELATIVE (float32)"


def test_rt_dose_in_gray_says_gy(tmp_path):
    ds = pydicom.dcmread(corpus_file("rtdose_1frame.dcm"))
    ds.DoseUnits = "GY"
    ds.save_as(tmp_path / "d.dcm")
    img = read_dicom_files([tmp_path / "d.dcm"], tmp_path / "d.dcm")
    assert img.meta["mt_note"] == "RT Dose: DoseGridScaling applied, values are dose in Gy (float32)"


def test_dose_scaling_of_one_still_gives_float(tmp_path):
    ds = pydicom.dcmread(corpus_file("rtdose_1frame.dcm"))
    ds.DoseGridScaling = "1"
    ds.save_as(tmp_path / "d.dcm")
    img = read_dicom_files([tmp_path / "d.dcm"], tmp_path / "d.dcm")
    assert img.array.dtype == np.float32
    np.testing.assert_array_equal(_slices(img)[0], ds.pixel_array.astype(np.float32))


@pytest.mark.parametrize("name", ["SC_rgb_32bit.dcm", "SC_rgb_rle_32bit_2frame.dcm"])
def test_32_bit_rgb_is_written_as_uint32(tmp_path, name):
    path = corpus_file(name)
    expected = pydicom.dcmread(path).pixel_array
    expected = expected[None] if expected.ndim == 3 else expected
    result = convert_tree(path, tmp_path / "out", "nifti", progress=False)
    assert result.ok, result.failed
    (out,) = (tmp_path / "out").rglob("*.nii.gz")
    data = np.asanyarray(nib.load(out).dataobj)
    assert data.dtype == np.uint32
    got = data[:, :, :, 0, :].transpose(2, 1, 0, 3)
    # both frames sit at the same (unknown) position: kept in file order
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(
    "name",
    [
        "MR_small_jpeg_ls_lossless.dcm",  # JPEG-LS lossless
        "JPEGLSNearLossless_16.dcm",  # JPEG-LS near-lossless
        "SC_rgb_jpeg_gdcm.dcm",  # JPEG lossless, process 14, colour
        "JPGExtended.dcm",  # 12-bit JPEG extended (Pillow cannot)
        "JPEG-LL.dcm",  # JPEG lossless (pydicom-data)
    ],
)
def test_jpeg_ls_and_lossless_decode_through_the_pylibjpeg_plugins(name):
    path = corpus_file(name)
    ds = pydicom.dcmread(path)
    expected = ds.pixel_array
    if int(ds.get("SamplesPerPixel", 1)) == 1 and "RescaleSlope" in ds:
        expected = apply_modality_lut(expected, ds)
    img = read_dicom_files([path], path)
    got = _slices(img)
    np.testing.assert_array_equal(got, expected.reshape(got.shape))


def test_truncated_jpeg2000_file_is_called_truncated():
    path = corpus_file("emri_small_jpeg_2k_lossless_too_short.dcm")
    with pytest.raises(InputError) as e:
        read_dicom_files([path], path)
    assert str(e.value).startswith(f"{path}: is truncated")
    assert "not a DICOM file" not in str(e.value)


@pytest.mark.parametrize("name", ["JPEG-lossy.dcm", "JPEG2000-embedded-sequence-delimiter.dcm"])
def test_undecodable_pixels_give_one_error_and_no_pydicom_log(caplog, name):
    path = corpus_file(name)
    with caplog.at_level(logging.DEBUG), pytest.raises(InputError) as e:
        read_dicom_files([path], path)
    assert "cannot be decoded" in str(e.value) and "\n" not in str(e.value)
    loud = [r for r in caplog.records if r.name.startswith("pydicom") or r.exc_info]
    assert not loud, [r.getMessage() for r in loud]  # pydicom logs these failures with a traceback


def test_zero_pixel_spacing_counts_as_missing(tmp_path, caplog):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PixelSpacing = [0, 0]
    ds.save_as(tmp_path / "z.dcm")
    with caplog.at_level(logging.WARNING):
        img = read_dicom_files([tmp_path / "z.dcm"], tmp_path / "z.dcm")
    np.testing.assert_allclose(np.abs(np.diag(img.affine))[:2], [1.0, 1.0])
    assert any("no valid PixelSpacing" in r.getMessage() for r in caplog.records)


def test_a_lone_dicomdir_file_is_named_as_an_index(tmp_path):
    path = corpus_file("DICOMDIR-empty.dcm")
    with pytest.raises(InputError, match="is a DICOMDIR index file, not an image"):
        convert_tree(path, tmp_path / "out", "nifti", progress=False)


def test_same_stem_nifti_gz_and_nrrd_get_distinct_documented_names(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(NIB_DATA / "standard.nii.gz", src / "a.nii.gz")
    ref = nib.load(NIB_DATA / "standard.nii.gz")
    sitk.WriteImage(sitk.GetImageFromArray(np.asarray(ref.dataobj).T.copy()), str(src / "a.nrrd"))
    assert sorted(i.key for i in find_series(src)) == ["a_nii_gz", "a_nrrd"]
    result = convert_tree(src, tmp_path / "out", "nifti", progress=False)
    assert result.ok, result.failed
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_nii_gz.nii.gz", "a_nrrd.nii.gz"]


def test_cli_reports_each_bad_dicom_file_in_one_line_without_torch(tmp_path):
    names = ["JPEG-lossy.dcm", "emri_small_jpeg_2k_lossless_too_short.dcm", "MR_small_jpeg_ls_lossless.dcm"]
    src = tmp_path / "src"
    src.mkdir()
    for name in names:
        shutil.copy(corpus_file(name), src / name)
    code = (
        "import sys; from medtranslate.cli.main import main; rc = main(sys.argv[1:]); "
        "print(sorted(m for m in ('torch', 'monai') if m in sys.modules)); sys.exit(rc)"
    )
    cmd = [sys.executable, "-c", code, "-q", "convert", str(src), str(tmp_path / "out"), "--to", "nifti"]
    run = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr and "Warning" not in run.stderr, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 2, run.stderr  # one per bad file; the JPEG-LS file converts
    assert any("JPEG-lossy.dcm: has pixel data that cannot be decoded" in ln for ln in lines)
    assert any("too_short.dcm: is truncated" in ln for ln in lines)
    assert run.stdout.strip() == "[]"
    assert len(list((tmp_path / "out").rglob("*.nii.gz"))) == 1


def test_32_bit_rgb_to_nrrd_is_refused_in_one_line(tmp_path):
    path = corpus_file("SC_rgb_32bit.dcm")
    result = convert_tree(path, tmp_path / "out", "nrrd", progress=False)
    (item,) = result.failed
    assert "ITK cannot write 3-channel uint32 images as .nrrd" in item.reason and "\n" not in item.reason


def test_file_without_transfer_syntax_decodes_its_native_pixels():
    path = corpus_file("OT-PAL-8-face.dcm")  # no (0002,0010): pydicom refuses to decode it as it is
    ds = pydicom.dcmread(path, force=True)
    assert not ds.file_meta.get("TransferSyntaxUID")
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian  # what pydicom parsed the file as
    expected = apply_color_lut(ds.pixel_array, ds)
    img = read_dicom_files([path], path)
    np.testing.assert_array_equal(_slices(img)[0], expected)
    assert not pydicom.dcmread(path, force=True).file_meta.get("TransferSyntaxUID")  # the file is unchanged
