"""The confocal2he bundle (seed 001): metadata offline, paper defaults, tiny despeckling and staining training (time
limit, final checkpoint), the Table-1 evaluation, despeckling of PNG folders and whole-slide staining through the CLI
(pyramidal OME-TIFF marked synthetic), and bad inputs named one per line while the batch goes on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from monai.bundle import ConfigParser
from PIL import Image

from medtranslate.cli.bundle_runner import run_bundle_config
from medtranslate.cli.main import main
from medtranslate.data.samples.skin import write_he_slide, write_histology_dataset, write_skin_slide_pair
from medtranslate.data.slide_patches import write_patch_datalist

ROOT = Path(__file__).parents[2]
BUNDLE = ROOT / "bundles" / "confocal2he"
CONFIGS = BUNDLE / "configs"
TINY_DS = {"despeckle_channels": 4, "despeckle_layers": 2}
TINY_GEN = {"gen_channels": 4, "gen_res_blocks": 1, "gen_downsamplings": 2}
TINY_SET = [a for k, v in {**TINY_DS, **TINY_GEN}.items() for a in ("--set", f"{k}={json.dumps(v)}")]


def test_metadata_verifies_offline_and_configs_parse():
    cmd = [sys.executable, "-m", "monai.bundle", "verify_metadata", "--meta_file", "configs/metadata.json"]
    cmd += ["--filepath", "configs/meta_schema.json"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=BUNDLE, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0 and "verified with no error" in proc.stdout + proc.stderr, proc.stderr[-2000:]
    other = ROOT / "bundles" / "ct2mri" / "configs" / "meta_schema.json"
    assert other.read_bytes() == (CONFIGS / "meta_schema.json").read_bytes()
    for name in ("train", "train_despeckle", "inference", "evaluate", "multi_gpu_train"):
        json.loads((CONFIGS / f"{name}.json").read_text())
    assert (CONFIGS / "logging.conf").is_file() and "Table 1" in (BUNDLE / "docs" / "README.md").read_text()


def test_paper_defaults():
    from monai.bundle import ConfigParser

    p = ConfigParser()
    p.read_config(str(CONFIGS / "train_despeckle.json"))
    assert (p["despeckle_channels"], p["despeckle_layers"], p["lr"], p["patch_size"]) == (64, 7, 5e-4, [256, 256])
    assert p["loss"]["_target_"] == "torch.nn.MSELoss" and p["speckle_distribution"] == "gamma"
    net = p.get_parsed_content("despeckle_def", instantiate=True)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 8 and convs[-1].out_channels == 1 and all(c.out_channels == 64 for c in convs[:-1])
    c = ConfigParser()
    c.read_config(str(CONFIGS / "train.json"))
    assert c["lr"] == 2e-4 and c["beta1"] == 0.5 and (c["n_constant_epochs"], c["n_decay_epochs"]) == (50, 50)
    assert c["patch_schedule"] == {"1": [256, 256], "51": [512, 512]}
    i = ConfigParser()
    i.read_config(str(CONFIGS / "inference.json"))
    assert i["hematoxylin_rgb"] == [0.30, 0.20, 1.00] and i["eosin_rgb"] == [1.00, 0.55, 0.88]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("confocal2he")
    dl = write_histology_dataset(root / "despeckle", n=5, shape=(48, 48))
    ds_out = root / "ds_train"
    over = {**TINY_DS, "datalist": str(dl), "output_dir": str(ds_out), "device": "cpu", "patch_size": [32, 32]}
    run_bundle_config(BUNDLE, "train_despeckle.json", {**over, "max_epochs": 50, "time_limit_s": 1e-6})
    fcm, rcm = write_skin_slide_pair(root / "slides", (256, 256), seed=0, tile=64)
    he = write_he_slide(root / "slides", (410, 410), seed=1, tile=64)
    patches, problems = write_patch_datalist([(fcm, rcm)], [he], root / "patches", patch=64)
    assert problems == []
    cg_out = root / "cg_train"
    run_bundle_config(
        BUNDLE,
        "train.json",
        {
            **TINY_GEN,
            "datalist": str(patches),
            "output_dir": str(cg_out),
            "device": "cpu",
            "disc_channels": 4,
            "disc_layers": 1,
            "patch_schedule": {"1": [32, 32], "2": [64, 64]},
            "max_epochs": 2,
            "n_constant_epochs": 1,
            "n_decay_epochs": 1,
            "time_limit_s": 1e-6,
            "checkpoint_interval": 0,
        },
    )
    return {"root": root, "dl": dl, "ds": ds_out / "checkpoints", "cg": cg_out / "checkpoints", "fcm": fcm, "rcm": rcm}


def test_time_limited_training_writes_a_final_checkpoint(trained):
    (ds,) = list(trained["ds"].glob("checkpoint_*.pt"))
    ckpt = torch.load(ds, weights_only=True)
    assert "network" in ckpt and ckpt["meta"]["iteration"] == 1  # stopped by the time limit after one iteration
    (cg,) = list(trained["cg"].glob("checkpoint_*.pt"))
    assert {"g_ab", "g_ba", "d_a", "d_b"} <= set(torch.load(cg, weights_only=True))
    for run in (trained["ds"].parent, trained["cg"].parent):  # each run is a self-describing bundle
        assert (run / "models" / "model.pt").is_file() and (run / "configs" / "inference.json").is_file()
    assert torch.load(trained["ds"].parent / "models" / "model.pt", weights_only=True)["network"]


def test_evaluation_reports_table1_with_the_median_baseline(trained, tmp_path, capsys):
    ihc = tmp_path / "ihc.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(ihc)
    args = ["evaluate", "--bundle", str(BUNDLE), "--output", str(tmp_path / "ev"), "--checkpoint", str(trained["ds"])]
    args += ["--datalist", str(trained["dl"]), "--set", f"images={json.dumps([str(ihc)])}", *TINY_SET]
    assert main(args) == 0
    results = json.loads((tmp_path / "ev" / "metrics.json").read_text())["results"]
    res = results["despeckling"]
    rows = ("noisy", "median 3x3 only", "despeckled", "despeckled + median 3x3")
    assert set(res) == {f"{m} {r}" for r in rows for m in ("PSNR", "SSIM")} and "reference" in results
    assert res["PSNR noisy"]["n"] == 2 * 2  # one validation image + the extra file, two draws each
    assert res["PSNR noisy"]["value"] < res["PSNR median 3x3 only"]["value"]  # the baseline does something
    assert "16.19" in (tmp_path / "ev" / "metrics.md").read_text() and (tmp_path / "ev" / "figure.png").is_file()


def test_despeckle_folder_of_pngs_same_size_and_rgb_named(trained, tmp_path, capsys):
    inp = tmp_path / "in"
    inp.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (37, 53), dtype=np.uint8)).save(inp / "rcm1.png")
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(inp / "colour.png")
    tifffile.imwrite(inp / "rcm2.tif", np.random.default_rng(1).random((30, 40)).astype(np.float32))
    args = ["translate", "--bundle", str(BUNDLE), "--direction", "despeckle", "--input", str(inp)]
    args += ["--output", str(tmp_path / "out"), "--checkpoint", str(trained["ds"]), "--format", "png", *TINY_SET]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "translated 2 of 3" in out and "colour.png: has 3 channels" in out
    assert np.asarray(Image.open(tmp_path / "out" / "rcm1.png")).shape == (37, 53)
    assert np.asarray(Image.open(tmp_path / "out" / "rcm2.png")).shape == (30, 40)


def test_whole_slide_stain_through_the_cli(trained, tmp_path, capsys):
    args = ["translate", "--bundle", str(BUNDLE), "--direction", "stain", "--input", str(trained["fcm"])]
    args += ["--input-rcm", str(trained["rcm"]), "--output", str(tmp_path), "--checkpoint", str(trained["cg"])]
    args += ["--set", f"despeckle_checkpoint={json.dumps(str(trained['ds']))}", "--set", "window=64"]
    args += ["--set", "stride=32", *TINY_SET]
    assert main(args) == 0, capsys.readouterr()
    with tifffile.TiffFile(tmp_path / "slide_he.ome.tif") as tif:
        assert tif.is_ome and "SYNTHETIC" in tif.ome_metadata and 'PhysicalSizeX="0.75"' in tif.ome_metadata
        levels = tif.series[0].levels
        assert levels[0].shape == (256, 256, 3) and tif.pages[0].is_tiled and tif.pages[0].tilelength == 32
    report = json.loads((tmp_path / "translate_report.json").read_text())
    assert report["ok"] and report["items"][0]["tissue_fraction"] > 0.2


def test_bad_slides_each_one_line_and_the_batch_goes_on(trained, tmp_path, capsys):
    import shutil

    inp = tmp_path / "in"
    inp.mkdir()
    shutil.copy(trained["fcm"], inp / "good_fcm.ome.tif")
    shutil.copy(trained["rcm"], inp / "good_rcm.ome.tif")
    shutil.copy(trained["fcm"], inp / "lonely_fcm.ome.tif")
    tifffile.imwrite(inp / "size_fcm.tif", np.zeros((256, 256), np.uint16))
    tifffile.imwrite(inp / "size_rcm.tif", np.zeros((256, 200), np.uint16))
    tifffile.imwrite(inp / "rgb_fcm.tif", np.zeros((256, 256), np.uint16))
    tifffile.imwrite(inp / "rgb_rcm.tif", np.zeros((256, 256, 3), np.uint8))
    tifffile.imwrite(inp / "small_fcm.tif", np.zeros((40, 40), np.uint16))
    tifffile.imwrite(inp / "small_rcm.tif", np.zeros((40, 40), np.uint16))
    tifffile.imwrite(inp / "blank_fcm.tif", np.zeros((256, 256), np.uint16))
    tifffile.imwrite(inp / "blank_rcm.tif", np.zeros((256, 256), np.uint16))
    args = ["translate", "--bundle", str(BUNDLE), "--direction", "stain", "--input", str(inp), "--output"]
    args += [str(tmp_path / "out"), "--checkpoint", str(trained["cg"]), "--set", "window=64", "--set", "stride=32"]
    args += ["--set", f"despeckle_checkpoint={json.dumps(str(trained['ds']))}", *TINY_SET]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "translated 1 of 6" in out
    errors = [line for line in out.splitlines() if line.startswith("  failed: ")]
    assert len(errors) == 5
    expect = {
        "lonely_fcm": "only one confocal mode",
        "size_rcm": "but the FCM is",
        "rgb_rcm": "samples per pixel",
        "small_fcm": "smaller",
        "blank_fcm": "no tissue",
    }
    for name, msg in expect.items():
        assert any(name in e and msg in e for e in errors), (name, errors)
    assert (tmp_path / "out" / "good_he.ome.tif").is_file()
    # only one mode through the single-file form
    args = ["translate", "--bundle", str(BUNDLE), "--direction", "stain", "--input", str(trained["fcm"])]
    assert main([*args, "--output", str(tmp_path / "o2"), "--checkpoint", str(trained["cg"]), *TINY_SET]) == 1
    assert "only one confocal mode given; pass the RCM slide with --input-rcm" in capsys.readouterr().out


def test_the_runs_bundles_need_no_size_overrides(trained, tmp_path, capsys):
    """Trained at 4 / 2 despeckling and 4 / 1 / 2 generator sizes (not the bundle's 64 / 7, 64 / 9 / 2): the run
    folders and the checkpoints carry them (``bundle_checkpoints``: both checkpoints' settings apply)."""
    ds_run, cg_run = trained["ds"].parent, trained["cg"].parent
    assert json.loads((ds_run / "configs" / "inference.json").read_text())["direction"] == "despeckle"
    inp = tmp_path / "in"
    inp.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (37, 53), dtype=np.uint8)).save(inp / "rcm.png")
    args = ["translate", "--input", str(inp), "--format", "png"]
    assert main([*args, "--bundle", str(ds_run), "--output", str(tmp_path / "a")]) == 0, capsys.readouterr()
    assert np.asarray(Image.open(tmp_path / "a" / "rcm.png")).shape == (37, 53)
    stain = ["translate", "--direction", "stain", "--input", str(trained["fcm"]), "--input-rcm", str(trained["rcm"])]
    stain += ["--set", f"despeckle_checkpoint={json.dumps(str(trained['ds']))}", "--set", "window=64"]
    stain += ["--set", "stride=32"]
    assert main([*stain, "--bundle", str(cg_run), "--output", str(tmp_path / "b")]) == 0, capsys.readouterr()
    assert (
        main([*stain, "--bundle", str(BUNDLE), "--checkpoint", str(trained["cg"]), "--output", str(tmp_path / "c")])
        == 0
    )
    with (
        tifffile.TiffFile(tmp_path / "b" / "slide_he.ome.tif") as b,
        tifffile.TiffFile(tmp_path / "c" / "slide_he.ome.tif") as c,
    ):
        np.testing.assert_array_equal(b.asarray(), c.asarray())


@pytest.mark.parametrize(
    "run_key,definition,key,shape",
    [("cg", "generator_def", "g_ab", [1, 3, 32, 32]), ("ds", "despeckle_def", "network", [1, 1, 32, 32])],
)
def test_ckpt_export_gives_torchscript(trained, tmp_path, run_key, definition, key, shape):
    run = trained[run_key].parent
    cmd = [sys.executable, "-m", "monai.bundle", "ckpt_export", definition, "--filepath", str(tmp_path / "n.ts")]
    cmd += ["--ckpt_file", "models/model.pt", "--key_in_ckpt", key, "--meta_file", "configs/metadata.json"]
    cmd += ["--config_file", "configs/inference.json", "--use_trace", "True", "--input_shape", json.dumps(shape)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=run, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    scripted = torch.jit.load(str(tmp_path / "n.ts"))
    parser = ConfigParser()
    parser.read_config(str(run / "configs" / "inference.json"))
    net = parser.get_parsed_content(definition)
    net.load_state_dict(torch.load(run / "models" / "model.pt", weights_only=True)[key])
    x = torch.rand(*shape)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), net.eval()(x))
