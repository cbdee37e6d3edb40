"""The fundus_synthesis bundle (seed 004): metadata offline, paper defaults, the three stages trained on tiny data,
``translate --direction upscale`` / ``vessels2fundus`` with their bad inputs, and ``synthesize`` (files, manifest,
synthetic markers, reproducibility, refusals)."""

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
from monai.bundle import ConfigParser
from monai.bundle import run as bundle_run
from PIL import Image

from medtranslate.cli.main import main
from medtranslate.data.datalist import load_datalist
from medtranslate.data.samples import write_sample_dataset

sys.path.insert(0, str(Path(__file__).parents[1]))
from translate_helpers import run_translate  # noqa: E402

ROOT = Path(__file__).parents[2]
BUNDLE = ROOT / "bundles" / "fundus_synthesis"
CONFIGS = BUNDLE / "configs"
STAGES = ("vae", "pix2pix", "edsr")
#: tiny networks, shared by every config of the bundle (train_*, inference, synthesize, evaluate)
TINY = {
    "image_size": [32, 32],
    "vae_channels": [4, 8],
    "vae_strides": [2, 2],
    "vae_latent_size": 8,
    "vae_res_units": 1,
    "gen_channels": 4,
    "gen_num_downs": 3,
    "edsr_channels": 8,
    "edsr_res_blocks": 1,
}
TRAIN_ONLY = {"disc_channels": 4, "disc_layers": 1, "hr_patch": 16, "max_epochs": 2, "batch_size": 2}
TINY_SET = [a for k, v in TINY.items() for a in ("--set", f"{k}={json.dumps(v)}")]


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _parse(name: str) -> ConfigParser:
    p = ConfigParser()
    p.read_config(str(CONFIGS / name))
    return p


def test_metadata_verifies_offline_and_configs_parse():
    cmd = [sys.executable, "-m", "monai.bundle", "verify_metadata", "--meta_file", "configs/metadata.json"]
    cmd += ["--filepath", "configs/meta_schema.json"]
    proc = subprocess.run(cmd, cwd=BUNDLE, capture_output=True, text=True, env=_env(), timeout=120)
    assert proc.returncode == 0 and "verified with no error" in proc.stdout + proc.stderr, proc.stderr[-2000:]
    other = ROOT / "bundles" / "ct2mri" / "configs" / "meta_schema.json"
    assert other.read_bytes() == (CONFIGS / "meta_schema.json").read_bytes()
    for name in ("train_vae", "train_pix2pix", "train_edsr", "inference", "synthesize", "evaluate", "multi_gpu_train"):
        json.loads((CONFIGS / f"{name}.json").read_text())
    assert (CONFIGS / "logging.conf").is_file() and (BUNDLE / "docs" / "README.md").is_file()
    meta = json.loads((CONFIGS / "metadata.json").read_text())
    assert meta["eval_metrics"]["paper_ssim_vessels"] == 0.74


def test_paper_defaults_and_shared_keys():
    vae, p2p, edsr, inf, syn = (
        _parse(f)
        for f in ("train_vae.json", "train_pix2pix.json", "train_edsr.json", "inference.json", "synthesize.json")
    )
    for p in (vae, p2p, edsr, inf, syn):
        assert p["image_size"] == [512, 512]
    assert p2p["lambda_l1"] == 100.0 and p2p["adversarial_mode"] == "vanilla" and p2p["disc_layers"] == 3
    assert p2p["train"]["trainer"]["conditional"] is True and p2p["gen_num_downs"] == 8
    assert p2p["discriminator_def"]["module"]["in_channels"] == 4  # conditional: vessel map + RGB
    assert edsr["scale"] == 2 and edsr["train"]["trainer"]["loss_function"] == "$torch.nn.L1Loss()"
    assert vae["network_def"]["_target_"] == "medtranslate.networks.ResidualVAE"
    # the inference / synthesis networks are built from the same keys as training
    for key in ("edsr_channels", "edsr_res_blocks", "scale"):
        assert inf[key] == edsr[key] == syn[key]
    for key in ("vae_latent_size", "vae_channels", "vae_strides", "vae_res_units", "vae_output_bias"):
        assert vae[key] == syn[key] == inf[key]  # inference.json: the VAE decoder's export (vae_decoder_def)
    for key in ("gen_channels", "gen_num_downs", "norm"):
        assert p2p[key] == inf[key] == syn[key]
    assert syn["psf_sigma"] > 0


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("fundus_synthesis")
    write_sample_dataset(root / "data", "fundus", n=4, seed=0, shape=(64, 64))
    out = root / "train"
    torch.set_num_threads(1)
    for stage in STAGES:
        bundle_run(
            config_file=str(CONFIGS / f"train_{stage}.json"),
            meta_file=str(CONFIGS / "metadata.json"),
            logging_file=False,
            bundle_root=str(BUNDLE),
            dataset_dir=str(root / "data"),
            output_dir=str(out),
            **TINY,
            **TRAIN_ONLY,
        )
    return {"root": root, "out": out, "data": root / "data"}


def test_each_stage_trains_into_its_own_checkpoint_folder(trained):
    for stage, keys in zip(STAGES, ({"network"}, {"generator", "discriminator"}, {"network"})):
        files = sorted((trained["out"] / stage / "checkpoints").glob("checkpoint_*.pt"))
        assert files, stage
        ckpt = torch.load(files[-1], weights_only=True)
        assert keys <= set(ckpt) and ckpt["meta"]["epoch"] == 2


def test_translate_upscale_doubles_rgb_and_marks_synthetic(trained, tmp_path):
    inp = tmp_path / "in"
    inp.mkdir()
    Image.open(trained["data"] / "fundus" / "eye_001.png").save(inp / "eye.png")
    rc = run_translate(
        BUNDLE, inp, tmp_path / "out", trained["out"], "--direction", "upscale", "--format", "png", *TINY_SET
    )
    assert rc == 0
    im = Image.open(tmp_path / "out" / "eye.png")
    assert im.mode == "RGB" and im.size == (128, 128)
    assert im.info["Description"].startswith("SYNTHETIC")


def test_translate_bad_inputs_are_one_line_each(trained, tmp_path, capsys):
    inp = tmp_path / "in"
    inp.mkdir()
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(inp / "gray.png")
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(inp / "big.png")
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(inp / "ok.png")
    rc = run_translate(
        BUNDLE,
        inp,
        tmp_path / "out",
        trained["out"],
        "--direction",
        "upscale",
        "--format",
        "png",
        *TINY_SET,
        "--set",
        "max_output_size=64",
    )
    assert rc == 1
    rows = {r["key"]: r for r in json.loads((tmp_path / "out" / "translate_report.json").read_text())["items"]}
    assert "gray.png" in rows["gray"]["error"] and "not an RGB image" in rows["gray"]["error"]
    assert "80 x 80" in rows["big"]["error"] and "limit of 64" in rows["big"]["error"]
    assert rows["ok"]["ok"] and "\n" not in rows["big"]["error"]
    # vessel maps for vessels -> fundus: binary and single-channel
    vin = tmp_path / "vessels"
    vin.mkdir()
    Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16)).save(vin / "gray.png")
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(vin / "rgb.png")
    Image.open(trained["data"] / "vessels" / "eye_000.png").save(vin / "ok.png")
    rc = run_translate(
        BUNDLE, vin, tmp_path / "f", trained["out"], "--direction", "vessels2fundus", "--format", "png", *TINY_SET
    )
    rows = {r["key"]: r for r in json.loads((tmp_path / "f" / "translate_report.json").read_text())["items"]}
    assert rc == 1 and "not a binary vessel map" in rows["gray"]["error"]
    assert "not a single-channel vessel map" in rows["rgb"]["error"] and rows["ok"]["ok"]
    assert Image.open(tmp_path / "f" / "ok.png").size == (64, 64)  # back on the input grid


def _synth(trained, out, *extra):
    args = ["synthesize", "--bundle", str(BUNDLE), "--checkpoint", str(trained["out"]), "--output", str(out)]
    return main([*args, *TINY_SET, *extra])


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*.png"))
    }


def test_synthesize_pairs_manifest_and_markers(trained, tmp_path):
    out = tmp_path / "syn"
    assert _synth(trained, out, "--num", "3", "--seed", "5") == 0
    datalist = load_datalist(out / "manifest.json")
    pairs = datalist["training"]["pairs"]
    assert len(pairs) == 3 and all(p["synthetic"] is True for p in pairs)
    assert datalist["name"].startswith("SYNTHETIC") and "SYNTHETIC" in datalist["description"]
    first = pairs[0]
    image, mask = Image.open(out / first["a"]), Image.open(out / first["b"])
    small = Image.open(out / first["mask_small"])
    assert image.mode == "RGB" and image.size == (64, 64) and mask.size == (64, 64) and small.size == (32, 32)
    assert set(np.unique(np.asarray(mask))) <= {0, 255} and set(np.unique(np.asarray(small))) <= {0, 255}
    for im in (image, mask, small):
        assert im.info["Description"].startswith("SYNTHETIC")


def test_synthesize_is_reproducible_from_its_seed(trained, tmp_path):
    assert _synth(trained, tmp_path / "a", "--num", "2", "--seed", "3") == 0
    assert _synth(trained, tmp_path / "b", "--num", "2", "--seed", "3") == 0
    assert _synth(trained, tmp_path / "c", "--num", "2", "--seed", "4") == 0
    a, b, c = (_digest(tmp_path / x) for x in "abc")
    assert a == b and len(a) == 6
    assert a["masks_small/synth_0000.png"] != c["masks_small/synth_0000.png"]
    assert (tmp_path / "a" / "manifest.json").read_bytes() == (tmp_path / "b" / "manifest.json").read_bytes()


def test_synthesize_refusals(trained, tmp_path, capsys):
    assert _synth(trained, tmp_path / "z", "--num", "0") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--num must be at least 1, got 0" in err
    assert _synth(trained, tmp_path / "s", "--num", "1") == 0
    capsys.readouterr()
    assert _synth(trained, tmp_path / "s", "--num", "1") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "already holds a synthesis" in err and "--overwrite" in err
    assert _synth(trained, tmp_path / "s", "--num", "2", "--overwrite") == 0
    assert len(load_datalist(tmp_path / "s" / "manifest.json")["training"]["pairs"]) == 2
    assert _synth(trained, tmp_path / "s2", "--num", "1", "--checkpoint", str(tmp_path / "nothing")) == 2
    assert "not found" in capsys.readouterr().err


def test_evaluate_writes_the_protocol_with_the_paper_beside_ours(trained, tmp_path):
    args = ["evaluate", "--bundle", str(BUNDLE), "--checkpoint", str(trained["out"])]
    args += ["--datalist", str(trained["data"] / "datalist.json"), "--output", str(tmp_path), *TINY_SET]
    assert main([*args, "--set", "num_generated=3", "--set", "fid=false"]) == 0
    res = json.loads((tmp_path / "metrics.json").read_text())["results"]
    assert {"density", "skeleton_length", "branch_points"} <= set(res["Vessel statistics: samples, deconvolved"])
    assert res["Vessel statistics: samples, threshold only"]["density"]["n"] == 3
    ssim = res["SSIM protocol (one reference)"]
    assert ssim["generated vessel maps, deconvolved"]["n"] == 3 and ssim["real vessel maps"]["n"] == 2  # ref left out
    sr = res["Super-resolution x2 (test fundus)"]
    assert sr["PSNR bicubic"]["units"] == "dB" and sr["PSNR EDSR"]["n"] == 1
    md = (tmp_path / "metrics.md").read_text()
    assert "## Seed 004 beside ours" in md and "| 0.74 |" in md and "| 0.78 |" in md
    assert (tmp_path / "figure_synthesis.png").stat().st_size > 1000


@pytest.mark.slow
def test_demo_step_leaves_checkpoints_pairs_and_figure(tmp_path):
    from medtranslate.cli.demo import run_demo

    lines: list[str] = []
    ctx, _ = run_demo(tmp_path / "demo", quick=True, steps=["samples", "fundus_synthesis"], echo=lines.append)
    assert ctx.failed == 0
    root = tmp_path / "demo" / "fundus_synthesis"
    edsr = [p for p in (root / "train").rglob("checkpoint_*.pt") if "edsr" in str(p.parent)]
    assert edsr and {p.name for p in (root / "train").iterdir()} >= {"vae", "pix2pix", "edsr"}
    for stage in STAGES:  # each stage's run folder is a bundle (synthesis and evaluation took its sizes from there)
        assert (root / "train" / stage / "models" / "model.pt").is_file()
        assert (root / "train" / stage / "configs" / "inference.json").is_file()
    assert len(load_datalist(root / "synthetic" / "manifest.json")["training"]["pairs"]) == 4
    assert (root / "evaluation" / "figure_synthesis.png").stat().st_size > 1000
    assert any("PSNR EDSR" in line and "bicubic" in line for line in lines)
