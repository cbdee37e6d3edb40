"""Every bad input gets one clear report line and one stderr line; the batch goes on and exits 1."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from convert_helpers import CT_SMALL, NIB_DATA, tree_state, write_ct_series, write_nifti

from medtranslate.cli.main import main


def _truncated_nifti(src: Path) -> Path:
    path = src / "truncated.nii.gz"
    data = (NIB_DATA / "example_nifti2.nii.gz").read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _non_image(src: Path) -> Path:
    path = src / "scan.nii"  # named like an image, holds text
    path.write_text("patient notes, not an image\n" * 20)
    return path


def _no_pixel_data(src: Path) -> Path:
    write_ct_series(src / "nopixels", 2, series_number=9, drop_pixels=True)
    return src / "nopixels"


def _uneven_spacing(src: Path) -> Path:
    write_ct_series(src / "gap", 4, series_number=4, positions=[0.0, 5.0, 10.0, 25.0])
    return src / "gap"


def _mixed_orientation(src: Path) -> Path:
    tilted = [1.0, 0.0, 0.0, 0.0, 0.8, 0.6]
    write_ct_series(src / "tilted", 3, series_number=7, orientations={1: tilted})
    return src / "tilted"


def _all_nan(src: Path) -> Path:
    return write_nifti(src / "nan.nii.gz", np.full((4, 5, 6), np.nan, np.float32))


BAD_INPUTS = {
    "truncated-nifti": (_truncated_nifti, ("truncat", "corrupt", "ended before", "unexpected end", "short")),
    "non-image": (_non_image, ("not", "unknown", "unrecogni", "cannot")),
    "dicom-without-pixels": (_no_pixel_data, ("pixel",)),
    "uneven-slice-spacing": (_uneven_spacing, ("spacing", "gap", "missing slice", "inconsistent", "uneven")),
    "mixed-orientation": (_mixed_orientation, ("orientation",)),
    "all-nan": (_all_nan, ("nan",)),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_reported_and_batch_goes_on(tmp_path, capsys, caplog, case):
    make, words = BAD_INPUTS[case]
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(NIB_DATA / "standard.nii.gz", src / "good.nii.gz")
    bad = make(src)
    before = tree_state(src)
    report = tmp_path / "report.json"

    code = main(["-q", "convert", str(src), str(tmp_path / "out"), "--to", "nifti", "--report", str(report)])

    assert code == 1
    items = json.loads(report.read_text())["items"]
    failed = [i for i in items if i["status"] == "failed"]
    assert len(failed) == 1, items
    assert Path(failed[0]["input"]) == bad or Path(failed[0]["input"]).parent == bad, failed
    reason = failed[0]["reason"].lower()
    assert any(w in reason for w in words), reason
    assert [i["status"] for i in items if i["input"].endswith("good.nii.gz")] == ["converted"]
    # one stderr line (a log record; the subprocess test in test_convert_cli.py reads the real stderr)
    lines = [r.getMessage() for r in caplog.records if r.levelname == "ERROR" and bad.name in r.getMessage()]
    assert len(lines) == 1, caplog.text
    assert "Traceback" not in capsys.readouterr().err
    assert tree_state(src) == before


def test_rtplan_without_image_is_reported(tmp_path, capsys, caplog):
    from pydicom.data import get_testdata_file

    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(CT_SMALL, src / "ct.dcm")
    shutil.copy(get_testdata_file("rtplan.dcm"), src / "plan.dcm")
    assert main(["-q", "convert", str(src), str(tmp_path / "out"), "--to", "nifti"]) == 1
    assert "plan.dcm" in caplog.text and "Traceback" not in capsys.readouterr().err
    assert len(list((tmp_path / "out").rglob("*.nii.gz"))) == 1


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("medtranslate: error:") and "Traceback" not in err, err
    return lines[0]


def test_destination_under_a_file(tmp_path, capsys):
    src = write_nifti(tmp_path / "a.nii.gz", np.zeros((2, 3, 4), np.int16))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["-q", "convert", str(src), str(blocker / "out"), "--to", "nifti"]) == 2
    assert str(blocker) in _one_error_line(capsys.readouterr().err)


def test_destination_is_a_file(tmp_path, capsys):
    src = write_nifti(tmp_path / "a.nii.gz", np.zeros((2, 3, 4), np.int16))
    (tmp_path / "out").write_text("x")
    assert main(["-q", "convert", str(src), str(tmp_path / "out"), "--to", "nifti"]) == 2
    assert "not a folder" in _one_error_line(capsys.readouterr().err)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can write a 0o500 folder anyway")
def test_destination_read_only(tmp_path, capsys):
    src = write_nifti(tmp_path / "a.nii.gz", np.zeros((2, 3, 4), np.int16))
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert main(["-q", "convert", str(src), str(locked / "out"), "--to", "nifti"]) == 2
        _one_error_line(capsys.readouterr().err)
    finally:
        locked.chmod(0o700)


def test_usage_errors_exit_2(tmp_path, capsys):
    src = write_nifti(tmp_path / "a.nii.gz", np.zeros((2, 3, 4), np.int16))
    assert main(["convert", str(tmp_path / "nope"), str(tmp_path / "o"), "--to", "nifti"]) == 2
    assert "nope" in _one_error_line(capsys.readouterr().err)
    assert main(["convert", str(src), str(tmp_path / "o"), "--to", "nifti", "--report", "r.xml"]) == 2
    assert ".json or .csv" in _one_error_line(capsys.readouterr().err)
    with pytest.raises(SystemExit) as e:
        main(["convert", str(src), str(tmp_path / "o"), "--to", "bmp"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["convert", str(src), str(tmp_path / "o"), "--to", "nifti", "-j", "-3"])
    assert e.value.code == 2
