"""Every bad input gives ONE InputError line that names the file; inputs are never modified."""

from __future__ import annotations

import gzip
import shutil

import nibabel as nib
import numpy as np
import pytest
import tifffile
from io_helpers import NIB_DATA, dicom_testfile, oblique_orientation, tree_digest, write_series

from medtranslate.errors import InputError
from medtranslate.io import load_image


def _truncated_nii_gz(d):
    raw = (NIB_DATA / "anatomical.nii").read_bytes()
    blob = gzip.compress(raw)
    p = d / "truncated.nii.gz"
    p.write_bytes(blob[: len(blob) // 2])
    return p, "NIfTI"


def _truncated_nii(d):
    p = d / "cut.nii"
    p.write_bytes((NIB_DATA / "anatomical.nii").read_bytes()[:2000])
    return p, "NIfTI"


def _text_as(suffix):
    def make(d):
        p = d / f"notes{suffix}"
        p.write_text("this is not an image\n" * 20)
        return p, ""

    return make


def _unknown_suffix(d):
    p = d / "table.xyz"
    p.write_text("a,b\n1,2\n")
    return p, "not an image file"


def _empty(d):
    p = d / "empty.nii.gz"
    p.write_bytes(b"")
    return p, "empty"


def _dicom_without_pixels(d):
    p = d / "plan.dcm"
    shutil.copy(dicom_testfile("rtplan.dcm"), p)
    return p, "without pixel data"


def _truncated_dicom(d):
    p = d / "mr.dcm"
    shutil.copy(dicom_testfile("MR_truncated.dcm"), p)
    return p, "cannot be decoded"


def _gappy_series(d):
    write_series(d / "gap", 4, positions=[0.0, 2.5, 5.0, 10.0])
    return d / "gap", "inconsistent slice spacing"


def _mixed_orientation(d):
    uid, _ = write_series(d / "orient", 2, positions=[0.0, 2.5])
    write_series(d / "orient" / "b", 2, positions=[5.0, 7.5], orientation=oblique_orientation(), series_uid=uid)
    return d / "orient", "different orientations"


def _duplicate_positions(d):
    uid, _ = write_series(d / "dup", 2, positions=[0.0, 2.5])
    write_series(d / "dup" / "echo2", 2, positions=[0.0, 2.5], series_uid=uid)
    return d / "dup", "distinct slice positions"


def _broken_file_in_series(d):
    write_series(d / "s", 3)
    p = d / "s" / "zz.dcm"
    p.write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 10)
    return p, "not a readable DICOM file"


def _all_nan(d):
    p = d / "nan.nii.gz"
    nib.save(nib.Nifti1Image(np.full((4, 4, 3), np.nan, dtype=np.float32), np.eye(4)), p)
    return p, "no finite value"


def _time_series_tiff(d):
    p = d / "movie.tif"
    tifffile.imwrite(p, np.zeros((3, 2, 5, 6), np.uint8), imagej=True, metadata={"axes": "TZYX"})
    return p, "time series"


def _missing_img(d):
    p = d / "pair.hdr"
    shutil.copy(NIB_DATA / "nifti1.hdr", p)
    return p, "No such file"


def _folder_without_dicom(d):
    (d / "nodicom").mkdir()
    (d / "nodicom" / "readme.txt").write_text("hi")
    return d / "nodicom", "no DICOM files"


CASES = {
    "truncated_nii_gz": _truncated_nii_gz,
    "truncated_nii": _truncated_nii,
    "text_as_nifti": _text_as(".nii.gz"),
    "text_as_png": _text_as(".png"),
    "text_as_tiff": _text_as(".tif"),
    "text_as_dicom": _text_as(".dcm"),
    "text_as_mha": _text_as(".mha"),
    "unknown_suffix": _unknown_suffix,
    "empty_file": _empty,
    "dicom_without_pixels": _dicom_without_pixels,
    "truncated_dicom": _truncated_dicom,
    "gappy_series": _gappy_series,
    "mixed_orientation": _mixed_orientation,
    "duplicate_positions": _duplicate_positions,
    "all_nan": _all_nan,
    "broken_file_in_series": _broken_file_in_series,
    "time_series_tiff": _time_series_tiff,
    "hdr_without_img": _missing_img,
    "folder_without_dicom": _folder_without_dicom,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_gives_one_line_naming_the_file(tmp_path, case):
    path, expected = CASES[case](tmp_path)
    before = tree_digest(tmp_path)
    with pytest.raises(InputError) as e:
        load_image(path.parent if case == "broken_file_in_series" else path)
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith(str(path)) or str(path) in message, message
    assert expected in message, message
    assert tree_digest(tmp_path) == before  # nothing was modified, nothing was written beside the input


def test_missing_path():
    with pytest.raises(InputError, match="does not exist"):
        load_image("/nonexistent/file.nii.gz")
