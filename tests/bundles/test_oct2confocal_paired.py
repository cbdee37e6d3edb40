"""OCT2Confocal's registered pairs: register.json lays each flat-mount on its eye's OCT, train_paired.json trains on
them with a paired term in the OCT -> confocal direction only."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from medtranslate.cli.bundle_runner import run_bundle_config
from medtranslate.data import datalist_split, load_datalist
from medtranslate.errors import ConfigError, InputError, OutputError
from medtranslate.io import load_image
from medtranslate.metrics.structure import vessel_dice
from medtranslate.workflows import register_counterparts

BUNDLE = Path(__file__).resolve().parents[2] / "bundles" / "oct2confocal"
DEPTH_RANGE = [5, 22]


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    from medtranslate.data.samples import write_sample_dataset

    return write_sample_dataset(tmp_path_factory.mktemp("pairs"), "oct_confocal", n=3, seed=0, shape=(24, 64, 64))


def _digest(folder: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def _red_projection(path: str) -> torch.Tensor:
    return load_image(path)[0].float().amax(dim=-1)  # confocal (C, X, Y, Z): red, maximum over depth


def test_register_lays_each_flat_mount_on_its_eye(tmp_path, samples):
    before = _digest(samples.parent)
    result = run_bundle_config(
        BUNDLE,
        "register.json",
        {"datalist": str(samples), "output_dir": str(tmp_path / "reg"), "depth_range": DEPTH_RANGE},
        result_id="registration",
    )
    assert _digest(samples.parent) == before  # inputs untouched
    items = {i["image"]: i for i in datalist_split(samples, "training", "domain_a")}
    pairs = datalist_split(result.datalist, "training", "pairs")
    assert len(pairs) == len(items) and all(r["ok"] for r in result.items)
    for pair, row in zip(pairs, result.items):
        truth = load_image(items[pair["a"]]["ground_truth"])[0] > 0
        raw = vessel_dice(_red_projection(items[pair["a"]]["counterpart"]), truth)
        laid = vessel_dice(_red_projection(pair["b"]), truth)
        assert row["correlation_after"] > 0.8 and laid > 0.75 and laid > raw + 0.2, (row, raw, laid)
        registered, oct_image = load_image(pair["b"]), load_image(pair["a"])
        assert registered.dtype == torch.uint8 and registered.shape[1:3] == oct_image.shape[2:4]  # the OCT's grid
        # its en-face axes and origin are the OCT's; its depth keeps the flat-mount's own spacing
        torch.testing.assert_close(registered.affine[:3, :2].double(), oct_image.affine[:3, 1:3].double())
        torch.testing.assert_close(registered.affine[:3, 3].double(), oct_image.affine[:3, 3].double())
        flat_mount = load_image(items[pair["a"]]["counterpart"])
        assert float(registered.affine[:3, 2].norm()) == pytest.approx(float(flat_mount.affine[:3, 2].norm()))
        assert Path(row["overlay"]).is_file()
    report = json.loads(result.report.read_text())
    assert report["ok"] and report["n_items"] == len(items)
    # the new datalist keeps the unpaired domains and the test split
    data = load_datalist(result.datalist)
    assert data["test"] == load_datalist(samples)["test"]


def test_a_wrong_counterpart_is_reported_and_the_rest_written(tmp_path, samples):
    data = json.loads(samples.read_text())
    items = data["training"]["domain_a"]
    items[0]["counterpart"] = items[1]["ground_truth"]  # a 2D mask, not a confocal stack
    bad = samples.parent / "bad_datalist.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"1 of \d counterparts could not be registered: .*vessels/eye_00\d"):
        register_counterparts(bad, tmp_path / "reg", depth_range=DEPTH_RANGE)
    report = json.loads((tmp_path / "reg" / "registration.json").read_text())
    assert report["n_failed"] == 1 and "expected a 3D stack" in report["items"][0]["error"]
    assert len(datalist_split(tmp_path / "reg" / "datalist.json", "training", "pairs")) == len(items) - 1


def test_no_counterparts_is_one_clear_error(tmp_path, samples):
    data = json.loads(samples.read_text())
    for item in data["training"]["domain_a"]:
        item.pop("counterpart")
    plain = samples.parent / "plain_datalist.json"
    plain.write_text(json.dumps(data))
    with pytest.raises(InputError, match="names a 'counterpart'"):
        register_counterparts(plain, tmp_path / "reg")


def test_paired_overlay_trains_with_the_ab_term_only(tmp_path, samples):
    from monai.bundle import ConfigParser

    registered = register_counterparts(samples, tmp_path / "reg", depth_range=DEPTH_RANGE).datalist
    parser = ConfigParser()
    parser.read_config([str(BUNDLE / "configs" / c) for c in ("train.json", "train_paired.json")])
    parser.update(
        {
            "bundle_root": str(BUNDLE),
            "datalist": str(registered),
            "output_dir": str(tmp_path / "out"),
            "depth_range": DEPTH_RANGE,
            "channels": 2, "num_res_blocks": 1, "d_channels": 2, "load_size": 28, "crop_size": 24,
            "max_epochs": 1, "pool_size": 2, "device": "cpu", "amp": "none",
        }
    )  # fmt: skip
    parser.get_parsed_content("initialize")
    batch = parser.get_parsed_content("train#dataset")[0]
    assert list(batch["A"].shape) == [1, 9, 24, 24] and list(batch["B"].shape) == [3, 9, 24, 24]
    assert bool(batch["paired"])
    trainer = parser.get_parsed_content("train#trainer")
    trainer.run()
    out = trainer.state.output
    assert float(out["loss_pair_AB"]) > 0 and "loss_pair_BA" not in out


def test_paired_directions_are_checked(tmp_path, samples):
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(BUNDLE / "configs" / "train.json"))
    parser.update({"bundle_root": str(BUNDLE), "dataset_dir": str(samples.parent), "paired_directions": ["AC"]})
    parser.update({"output_dir": str(tmp_path / "out")})  # nothing written into the bundle
    parser.update({"channels": 2, "num_res_blocks": 1, "d_channels": 2, "load_size": 28, "crop_size": 24})
    with pytest.raises(Exception) as e:
        parser.get_parsed_content("train#trainer")
    err = e.value  # MONAI wraps the trainer's ConfigError in its own RuntimeError
    while err is not None and not isinstance(err, ConfigError):
        err = err.__cause__ or err.__context__
    assert err is not None and "paired_directions takes 'AB' and/or 'BA'" in str(err)


def test_register_runs_from_monai_bundle(tmp_path, samples):
    cmd = [sys.executable, "-m", "monai.bundle", "run", "--config_file", "configs/register.json"]
    cmd += ["--datalist", str(samples), "--output_dir", str(tmp_path / "reg"), "--depth_range", "[5,22]"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=BUNDLE, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(datalist_split(tmp_path / "reg" / "datalist.json", "training", "pairs")) == 2
    assert np.all([p.suffix != ".tmp" for p in (tmp_path / "reg").iterdir()])


def test_enface_figure_shows_the_confocal_as_a_maximum_projection(tmp_path, monkeypatch):
    """The output panel can use another projection than the input's (confocal: maximum intensity)."""
    from types import SimpleNamespace

    import medtranslate.workflows.enface as enface

    seen = {}
    monkeypatch.setattr(enface, "save_side_by_side", lambda left, right, path, **kw: seen.update(l=left, r=right))
    image = torch.zeros(1, 4, 6, 6)
    output = torch.zeros(3, 4, 6, 6)
    output[0, 1, 2, 3] = 200.0  # one bright voxel in one slice
    item = SimpleNamespace(image=image, output=output, output_dir=tmp_path, key="eye")
    enface.EnFaceProjection(0, output_mode="max")(item)
    assert float(torch.as_tensor(seen["r"]).max()) == 200.0  # the mean would give 50
    enface.EnFaceProjection(0)(item)
    assert float(torch.as_tensor(seen["r"]).max()) == 50.0


def test_counterparts_of_one_name_get_their_own_outputs(tmp_path, samples):
    import shutil

    data = json.loads(samples.read_text())
    items = data["training"]["domain_a"]
    for k, item in enumerate(items):  # each flat-mount copied as <k>/flatmount.tif
        src = samples.parent / item["counterpart"]
        (tmp_path / str(k)).mkdir()
        item["counterpart"] = str(shutil.copy(src, tmp_path / str(k) / "flatmount.tif"))
    same = samples.parent / "same_name_datalist.json"
    same.write_text(json.dumps(data))
    result = register_counterparts(same, tmp_path / "reg", depth_range=DEPTH_RANGE)
    outputs = [row["registered"] for row in result.items]
    assert len(set(outputs)) == len(items) and all(Path(o).is_file() for o in outputs)


def test_register_command(tmp_path, samples, capsys):
    from medtranslate.cli.main import main

    base = ["register", "--bundle", str(BUNDLE), "--depth-range", *map(str, DEPTH_RANGE)]
    assert main([*base, "--datalist", str(samples), "--output", str(tmp_path / "ok")]) == 0
    assert "registered 2 of 2 counterpart(s)" in capsys.readouterr().out
    assert len(datalist_split(tmp_path / "ok" / "datalist.json", "training", "pairs")) == 2
    data = json.loads(samples.read_text())
    data["training"]["domain_a"][0]["counterpart"] = data["training"]["domain_a"][1]["ground_truth"]
    bad = samples.parent / "bad_for_cli.json"
    bad.write_text(json.dumps(data))
    assert main([*base, "--datalist", str(bad), "--output", str(tmp_path / "bad")]) == 1  # failed items: exit 1
    out = capsys.readouterr()
    assert "registered 1 of 2" in out.out and "failed: " in out.out and "expected a 3D stack" in out.out
    assert "Traceback" not in out.out + out.err


def test_an_output_folder_holding_the_datalist_is_refused(samples):
    before = _digest(samples.parent)
    with pytest.raises(OutputError, match="would replace an input of the datalist"):
        register_counterparts(samples, samples.parent, depth_range=DEPTH_RANGE)  # its datalist.json is the input
    assert _digest(samples.parent) == before


def test_a_counterpart_that_does_not_match_is_refused(tmp_path, samples):
    from monai.data import MetaTensor

    from medtranslate.io import save_image

    data = json.loads(samples.read_text())
    item = data["training"]["domain_a"][0]
    flat_mount = load_image(samples.parent / item["counterpart"])
    noise = np.random.default_rng(0).integers(0, 255, tuple(flat_mount.shape), dtype=np.uint8)  # no vessel tree
    save_image(MetaTensor(noise, affine=flat_mount.affine), tmp_path / "noise.tif")  # calibrated as the real one
    tifffile = pytest.importorskip("tifffile")
    tifffile.imwrite(tmp_path / "raw.tif", noise.transpose(3, 2, 1, 0), imagej=True, metadata={"axes": "ZYXS"})
    for name, message in (("noise.tif", "found no match"), ("raw.tif", "is one of them uncalibrated")):
        item["counterpart"] = str(tmp_path / name)
        bad = samples.parent / f"{name}_datalist.json"
        bad.write_text(json.dumps(data))
        result = register_counterparts(bad, tmp_path / name.split(".")[0], depth_range=DEPTH_RANGE, strict=False)
        assert len(result.failed) == 1 and message in result.failed[0]["error"], result.failed
