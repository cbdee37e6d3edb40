"""`medtranslate demo --quick` end to end in a temporary folder, reruns, and the folders it refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medtranslate.cli.demo import MARKER, STEPS, run_demo
from medtranslate.cli.main import main
from medtranslate.errors import ConfigError, OutputError


@pytest.mark.slow  # ~10 s on an idle 2-core machine, mostly the first MONAI import; up to ~25 s when shared
def test_demo_quick_end_to_end(tmp_path: Path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--output", str(out), "--quick"]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "demo_report.json").read_text())
    assert [s["name"] for s in report["steps"]] == [s.name for s in STEPS]
    assert all(s["status"] == "ok" for s in report["steps"]) and report["failed"] == 0
    for entry in report["outputs"]:  # every output printed exists
        assert entry["path"] in printed and Path(entry["path"]).exists()
    steps = {s["name"]: s["summary"] for s in report["steps"]}
    assert set(steps["samples"]) == {"ct_mr", "oct_confocal", "fundus"}
    dicom = steps["nifti_to_dicom"]
    assert dicom["ct_mr"]["converted"] == 4 and dicom["oct"]["converted"] == 2  # 2 CT + 2 MR, 2 OCT
    roundtrip = steps["dicom_to_nifti"]["roundtrip"]
    assert len(roundtrip) == 6 and steps["dicom_to_nifti"]["roundtrip_exact"] == 6
    assert all(c["max_abs_diff"] == 0 and c["affine_max_diff_mm"] <= 1e-3 for c in roundtrip)
    assert "identical values and geometry" in printed
    assert len(list((out / "nifti_from_tiff").glob("*.nii.gz"))) == 2
    assert steps["tiff_to_nifti"]["converted"] == 2
    # structure recovery against the generators' ground truth, each beside its identity baseline, and what was used
    vessels = steps["oct2confocal_translate"]["structure"]
    assert set(vessels["test"]["mean"]) == {"vessel_dice", "identity_vessel_dice", "oct_shadow_dice"}
    assert vessels["test"]["mean"]["oct_shadow_dice"] > vessels["test"]["mean"]["identity_vessel_dice"]
    assert "vessel Dice, red channel vs the eye's vessel tree (test, 1 eye(s))" in printed
    ct = steps["ct2mri"]["structure"]
    assert 0 < ct["identity_ssim_ct_vs_mr"] < 1 and -1 <= ct["ssim_vs_paired_mr"] <= 1
    assert "CT->MR SSIM vs the paired MR phantom" in printed and "identity, the CT itself" in printed
    for name in ("oct2confocal_train", "ct2mri"):
        assert steps[name]["used"].startswith("training in the demo (no shipped weights)")
        assert steps[name]["amp"] in ("bf16", "none")
    assert steps["ct2mri"]["configs"] == ["train.json", "train_paired.json"]  # the demo says it used the paired term
    assert "train_paired.json" in steps["ct2mri"]["used"] and "configs train.json + train_paired.json" in printed
    assert not list(out.rglob("*.mt-tmp*"))


def test_rerun_replaces_only_the_demos_outputs(tmp_path: Path):
    out = tmp_path / "demo"
    lines: list[str] = []
    run_demo(out, quick=True, steps=["samples"], echo=lines.append)
    stale = out / "samples" / "fundus" / "fundus" / "stale.png"
    stale.write_bytes(b"x")
    keep = out / "my_notes.txt"
    keep.write_text("mine")
    ctx, report = run_demo(out, quick=True, steps=["samples"], echo=lines.append)
    assert (out / MARKER).is_file() and report.is_file() and ctx.failed == 0
    assert not stale.exists() and keep.read_text() == "mine"
    assert any(line.startswith("[1/1] samples") for line in lines)


def test_refuses_a_folder_it_did_not_make(tmp_path: Path, capsys):
    (tmp_path / "data.nii.gz").write_bytes(b"precious")
    with pytest.raises(OutputError, match="not empty and was not made by `medtranslate demo`"):
        run_demo(tmp_path, quick=True, steps=["samples"], echo=lambda _: None)
    assert main(["demo", "--output", str(tmp_path / "data.nii.gz"), "--quick"]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err
    assert (tmp_path / "data.nii.gz").read_bytes() == b"precious"


def test_unknown_step_and_bad_options(tmp_path: Path, capsys):
    with pytest.raises(ConfigError, match="unknown demo step"):
        run_demo(tmp_path / "x", steps=["train"], echo=lambda _: None)
    assert main(["demo", "--output", str(tmp_path / "y"), "--seed", "-1"]) == 2
    assert "--seed must be 0 or more" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
