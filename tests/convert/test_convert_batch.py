"""convert_tree: one output per series, resume, reports, naming collisions, inputs untouched, parallel workers."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import nibabel
import numpy as np
import pytest
from convert_helpers import NIB_DATA, tree_state, write_ct_series, write_nifti

from medtranslate.errors import ConfigError, InputError
from medtranslate.io.batch import FORMATS, _plan, convert_tree, output_path
from medtranslate.utils.atomic import TMP_MARK


def _outputs(dst: Path) -> list[str]:
    return sorted(str(p.relative_to(dst)) for p in dst.rglob("*.nii.gz"))


def test_tree_one_output_per_series(mixed_tree, tmp_path):
    before = tree_state(mixed_tree)
    dst = tmp_path / "out"
    result = convert_tree(mixed_tree, dst, "nifti", progress=False)

    assert result.ok and result.n_converted == 4 and result.n_skipped == result.n_failed == 0
    assert [i.key for i in result.items] == sorted(i.key for i in result.items)
    assert len(_outputs(dst)) == 4, _outputs(dst)
    for item in result.items:
        assert Path(item.output) == output_path(dst, item.key, "nifti") and Path(item.output).is_file()
    dicom = [i for i in result.items if i.kind == "dicom"]
    assert len(dicom) == 2 and len({i.series_uid for i in dicom}) == 2  # two series in one folder: two outputs
    slices = sorted(nibabel.load(i.output).shape[2] for i in dicom)
    assert slices == [3, 4]
    t1 = next(i for i in result.items if i.input.endswith("t1.nii"))
    want = np.asarray(nibabel.load(NIB_DATA / "anatomical.nii").dataobj)
    np.testing.assert_array_equal(np.squeeze(np.asarray(nibabel.load(t1.output).dataobj)), want)
    assert tree_state(mixed_tree) == before  # inputs: same bytes, same mtimes


def test_rerun_skips_and_cleans_leftovers(tmp_path):
    src = tmp_path / "src"
    write_nifti(src / "a.nii.gz", np.arange(60, dtype=np.int16).reshape(3, 4, 5))
    write_nifti(src / "b.nii.gz", np.ones((3, 4, 5), np.float32))
    dst = tmp_path / "out"
    first = convert_tree(src, dst, "nifti", progress=False)
    assert first.n_converted == 2
    mtime = (dst / "a.nii.gz").stat().st_mtime_ns
    # a killed run leaves temporary files beside the outputs; one output never got its final name
    (dst / "b.nii.gz").unlink()
    leftovers = [dst / f".a.k1l2e3d4{TMP_MARK}.nii.gz", dst / f".b.zz99aa00{TMP_MARK}.nii.gz"]
    for p in leftovers:
        p.write_bytes(b"half")
    unrelated = dst / "notes.txt"
    unrelated.write_text("keep me")

    second = convert_tree(src, dst, "nifti", progress=False)
    assert [i.status for i in second.items] == ["skipped", "converted"]
    assert (dst / "a.nii.gz").stat().st_mtime_ns == mtime
    assert not any(p.exists() for p in leftovers) and unrelated.exists()
    assert not [p for p in dst.iterdir() if TMP_MARK in p.name]

    third = convert_tree(src, dst, "nifti", progress=False, overwrite=True)
    assert third.n_converted == 2 and (dst / "a.nii.gz").stat().st_mtime_ns != mtime


@pytest.mark.parametrize("suffix", [".json", ".csv"])
def test_report(tmp_path, suffix):
    src = tmp_path / "src"
    write_nifti(src / "good.nii.gz", np.zeros((3, 4, 5), np.int16))
    (src / "bad.nii.gz").write_bytes(b"\x1f\x8b\x08 truncated")
    dst, report = tmp_path / "out", tmp_path / "reports" / f"convert{suffix}"
    result = convert_tree(src, dst, "nifti", report=report, progress=False)
    assert not result.ok and result.n_failed == 1 and result.n_converted == 1
    if suffix == ".json":
        data = json.loads(report.read_text())
        assert (data["n_converted"], data["n_skipped"], data["n_failed"]) == (1, 0, 1)
        rows = data["items"]
    else:
        with open(report, newline="") as f:
            rows = list(csv.DictReader(f))
    assert len(rows) == 2
    by_name = {Path(r["input"]).name: r for r in rows}
    assert by_name["good.nii.gz"]["status"] == "converted" and by_name["good.nii.gz"]["reason"] == ""
    assert by_name["good.nii.gz"]["output"] == str(dst / "good.nii.gz")
    assert by_name["bad.nii.gz"]["status"] == "failed" and by_name["bad.nii.gz"]["reason"]
    assert "\n" not in by_name["bad.nii.gz"]["reason"]
    assert set(rows[0]) >= {"input", "output", "status", "reason"}
    # the rerun's report says skipped
    convert_tree(src, dst, "nifti", report=report, progress=False)
    text = report.read_text()
    assert "skipped" in text and "converted" not in text.replace('"n_converted"', "")


@dataclass(frozen=True)
class _Ref:  # the fields of medtranslate.io.SeriesRef that planning reads
    key: str
    kind: str
    paths: tuple[Path, ...]
    series_uid: str | None = None


def test_two_inputs_one_output_are_both_reported(tmp_path):
    refs = [
        _Ref("scan", "nifti", (tmp_path / "scan.nii",)),
        _Ref("Scan", "nifti", (tmp_path / "Scan.nii.gz",)),  # same name on a case-insensitive file system
        _Ref("other", "nifti", (tmp_path / "other.nii",)),
    ]
    items, tasks = _plan(refs, tmp_path / "out", "nifti", overwrite=False, anonymize=False)
    assert [i.status if i else None for i in items] == ["failed", "failed", None]
    assert "Scan.nii.gz" in items[0].reason and "scan.nii" in items[1].reason
    assert tasks[2] is not None and tasks[0] is None


def test_nested_dicom_folders_are_reported(tmp_path):
    refs = [_Ref("a", "nifti", (tmp_path / "a.nii",)), _Ref("a/b", "nifti", (tmp_path / "a" / "b.nii",))]
    items, _ = _plan(refs, tmp_path / "out", "dicom", overwrite=False, anonymize=False)
    assert [i.status for i in items] == ["failed", "failed"]
    items, _ = _plan(refs, tmp_path / "out", "nifti", overwrite=False, anonymize=False)
    assert items == [None, None]  # a.nii.gz and a/b.nii.gz can live side by side


def test_output_never_replaces_its_input(tmp_path):
    src = write_nifti(tmp_path / "scan.nii.gz", np.arange(24, dtype=np.int16).reshape(2, 3, 4))
    before = tree_state(tmp_path)
    result = convert_tree(src, tmp_path, "nifti", overwrite=True, progress=False)
    assert result.n_failed == 1 and "would replace an input" in result.items[0].reason
    assert tree_state(tmp_path) == before


def test_destination_inside_source(tmp_path):
    src = tmp_path / "src"
    write_nifti(src / "a.nii.gz", np.zeros((2, 3, 4), np.int16))
    for _ in range(2):  # the second run must not take the first run's outputs for inputs
        result = convert_tree(src, src / "converted", "nifti", progress=False)
        assert len(result.items) == 1 and result.ok


def test_series_uid_selects_one_series(tmp_path):
    src = tmp_path / "src"
    uid, _ = write_ct_series(src, 2, series_number=5)
    write_ct_series(src, 2, series_number=6)
    result = convert_tree(src, tmp_path / "out", "nifti", series_uid=uid, progress=False)
    assert [i.series_uid for i in result.items] == [uid] and result.ok
    with pytest.raises(InputError, match=uid[:10]):
        convert_tree(src, tmp_path / "out2", "nifti", series_uid="1.2.3.4", progress=False)


def test_usage_errors(tmp_path):
    src = write_nifti(tmp_path / "a.nii.gz", np.zeros((2, 3, 4), np.int16))
    with pytest.raises(ConfigError):
        convert_tree(src, tmp_path / "o", "jpeg2000")
    with pytest.raises(ConfigError):
        convert_tree(src, tmp_path / "o", "nifti", report=tmp_path / "r.txt")
    with pytest.raises(ConfigError):
        convert_tree(src, tmp_path / "o", "nifti", jobs=-1)
    with pytest.raises(InputError):
        convert_tree(tmp_path / "missing", tmp_path / "o", "nifti")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no image"):
        convert_tree(tmp_path / "empty", tmp_path / "o", "nifti")
    assert set(FORMATS) == {"nifti", "dicom", "tiff", "png", "nrrd", "mha"}


@pytest.mark.slow  # spawned workers import torch and MONAI afresh
def test_parallel_matches_serial(mixed_tree, tmp_path):
    broken = mixed_tree / "patient2" / "broken.nii.gz"
    data = (NIB_DATA / "example_nifti2.nii.gz").read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    serial = convert_tree(mixed_tree, tmp_path / "j1", "nifti", jobs=1, progress=False)
    parallel = convert_tree(mixed_tree, tmp_path / "j2", "nifti", jobs=2, progress=False)
    assert [(i.key, i.status) for i in parallel.items] == [(i.key, i.status) for i in serial.items]
    assert parallel.n_failed == 1 and parallel.n_converted == 4  # the failure did not stop the other worker
    assert [i.reason for i in parallel.items] == [i.reason for i in serial.items]
    assert _outputs(tmp_path / "j1") == _outputs(tmp_path / "j2")
    for name in _outputs(tmp_path / "j1"):
        a, b = tmp_path / "j1" / name, tmp_path / "j2" / name
        assert a.read_bytes() == b.read_bytes(), name


def test_series_split_across_folders_is_one_output(tmp_path):
    src = tmp_path / "src"
    uid, paths = write_ct_series(src / "study" / "part1", 4, series_number=3)
    for p in paths[2:]:  # the same series, half of it in a sibling folder
        (src / "study" / "part2").mkdir(exist_ok=True)
        p.rename(src / "study" / "part2" / p.name)
    result = convert_tree(src, tmp_path / "out", "nifti", progress=False)
    assert len(result.items) == 1 and result.ok
    item = result.items[0]
    assert item.series_uid == uid and Path(item.input) == src / "study"
    assert nibabel.load(item.output).shape[:3] == (128, 128, 4)
