"""Each fundus_synthesis stage's run folder is a ready-to-use bundle (issue 10, part 1, for a multi-stage bundle).

The three stages are trained at non-default sizes (one short epoch). Then, with no ``--set``: ``translate --bundle
<run>/edsr`` (upscale) and ``--bundle <run>/pix2pix`` (vessels2fundus); ``translate --bundle
bundles/fundus_synthesis --checkpoint <run>`` and ``synthesize --bundle bundles/fundus_synthesis --checkpoint <run>``
(the stages' checkpoints carry the settings), and ``evaluate`` likewise; ``ckpt_export`` of the EDSR, of the
pix2pix generator and of the VAE's decoder (latent -> vessel map) gives TorchScript that computes what the networks
compute."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.bundle import run as bundle_run
from PIL import Image

from medtranslate.cli.main import main
from medtranslate.data.datalist import load_datalist
from medtranslate.data.samples import write_sample_dataset
from medtranslate.networks import EDSR, ResidualVAE, UNetGenerator

BUNDLE = Path(__file__).parents[2] / "bundles" / "fundus_synthesis"
CONFIGS = BUNDLE / "configs"
STAGES = {"vae": "network", "pix2pix": "generator", "edsr": "network"}
#: not the bundle's sizes (512, 64 channels, 8 downs, 16 EDSR blocks...)
SIZES = {
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
TRAIN_ONLY = {"disc_channels": 4, "disc_layers": 1, "hr_patch": 16, "max_epochs": 1, "batch_size": 2}


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("fundus_trained_bundle")
    write_sample_dataset(root / "data", "fundus", n=2, seed=0, shape=(64, 64))
    out = root / "run"
    torch.set_num_threads(1)
    for stage in STAGES:
        bundle_run(
            config_file=str(CONFIGS / f"train_{stage}.json"),
            meta_file=str(CONFIGS / "metadata.json"),
            logging_file=False,
            bundle_root=str(BUNDLE),
            dataset_dir=str(root / "data"),
            output_dir=str(out),
            samples_per_image=1,
            patches_per_image=1,
            **SIZES,
            **TRAIN_ONLY,
        )
    rgb = root / "rgb"
    rgb.mkdir()
    Image.open(root / "data" / "fundus" / "eye_000.png").resize((24, 24)).save(rgb / "eye.png")
    vessels = root / "vessels"
    vessels.mkdir()
    Image.open(root / "data" / "vessels" / "eye_000.png").save(vessels / "eye.png")
    return {"root": root, "out": out, "rgb": rgb, "vessels": vessels}


def test_each_stage_folder_is_a_bundle_with_its_settings(run):
    out = run["out"]
    for stage, key in STAGES.items():
        folder = out / stage
        assert {p.name for p in (folder / "configs").iterdir()} >= {"inference.json", "metadata.json"}, stage
        assert not (folder / "configs" / "evaluate.json").exists()  # it needs every stage
        assert (folder / "docs" / "README.md").is_file()
        model = torch.load(folder / "models" / "model.pt", weights_only=True)
        assert set(model) == {key, "settings"}, stage
        ckpt = torch.load(sorted((folder / "checkpoints").glob("checkpoint_*.pt"))[-1], weights_only=True)
        assert ckpt["settings"] == model["settings"]
        for name, tensor in model[key].items():
            torch.testing.assert_close(tensor, ckpt[key][name])
    assert torch.load(out / "vae" / "models" / "model.pt", weights_only=True)["settings"]["vae_channels"] == [4, 8]
    edsr = json.loads((out / "edsr" / "configs" / "inference.json").read_text())
    assert edsr["edsr_channels"] == 8 and edsr["edsr_res_blocks"] == 1 and edsr["scale"] == 2
    p2p = json.loads((out / "pix2pix" / "configs" / "inference.json").read_text())
    assert p2p["gen_channels"] == 4 and p2p["gen_num_downs"] == 3 and p2p["image_size"] == [32, 32]
    assert p2p["checkpoint"] == "$@bundle_root + '/models/model.pt'" and p2p["direction"] == "vessels2fundus"
    assert (
        edsr["direction"] == "upscale"
        and "direction" not in torch.load(out / "pix2pix" / "models" / "model.pt", weights_only=True)["settings"]
    )


@pytest.mark.slow
def test_translate_from_a_stage_folder_or_the_run_needs_no_overrides(run, tmp_path):
    out = run["out"]
    up = ["translate", "--input", str(run["rgb"]), "--format", "png"]
    assert main([*up, "--bundle", str(out / "edsr"), "--output", str(tmp_path / "a")]) == 0  # its direction: upscale
    args = ["--bundle", str(BUNDLE), "--checkpoint", str(out), "--direction", "upscale"]
    assert main([*up, *args, "--output", str(tmp_path / "b")]) == 0
    cmd = [sys.executable, "-m", "monai.bundle", "run", "--config_file", "configs/inference.json"]  # MONAI's runner
    cmd += ["--input_path", str(run["rgb"]), "--output_dir", str(tmp_path / "e")]
    proc = subprocess.run(cmd, cwd=out / "edsr", capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b, e = (np.asarray(Image.open(tmp_path / x / "eye.png")) for x in "abe")
    assert a.shape == (48, 48, 3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, e)
    v2f = ["translate", "--input", str(run["vessels"]), "--format", "png"]
    assert main([*v2f, "--bundle", str(out / "pix2pix"), "--output", str(tmp_path / "c")]) == 0  # vessels2fundus
    args = ["--bundle", str(BUNDLE), "--checkpoint", str(out), "--direction", "vessels2fundus"]
    assert main([*v2f, *args, "--output", str(tmp_path / "d")]) == 0
    c, d = (np.asarray(Image.open(tmp_path / x / "eye.png")) for x in "cd")
    assert c.shape == (64, 64, 3)
    np.testing.assert_array_equal(c, d)


@pytest.mark.slow
def test_synthesize_from_the_run_needs_no_overrides(run, tmp_path):
    syn = tmp_path / "syn"
    args = ["synthesize", "--bundle", str(BUNDLE), "--checkpoint", str(run["out"]), "--output", str(syn)]
    assert main([*args, "--num", "2"]) == 0
    pairs = load_datalist(syn / "manifest.json")["training"]["pairs"]
    assert len(pairs) == 2
    assert Image.open(syn / pairs[0]["a"]).size == (64, 64)  # image_size 32, x2
    assert Image.open(syn / pairs[0]["mask_small"]).size == (32, 32)


@pytest.mark.slow
def test_evaluate_from_the_run_needs_no_size_overrides(run, tmp_path):
    args = ["evaluate", "--bundle", str(BUNDLE), "--checkpoint", str(run["out"]), "--output", str(tmp_path)]
    args += [
        "--datalist",
        str(run["root"] / "data" / "datalist.json"),
        "--set",
        "num_generated=2",
        "--set",
        "fid=false",
    ]
    assert main(args) == 0
    assert "Super-resolution x2 (test fundus)" in json.loads((tmp_path / "metrics.json").read_text())["results"]


@pytest.mark.slow
def test_stages_that_disagree_are_refused_in_one_line(run, tmp_path, capsys):
    """A pix2pix stage trained at another image size than the VAE: which one to use is the user's choice."""
    other = tmp_path / "run"
    for stage in STAGES:
        (other / stage / "checkpoints").mkdir(parents=True)
        src = sorted((run["out"] / stage / "checkpoints").glob("checkpoint_*.pt"))[-1]
        ckpt = torch.load(src, weights_only=True)
        if stage == "pix2pix":
            ckpt["settings"]["image_size"] = [64, 64]
        torch.save(ckpt, other / stage / "checkpoints" / src.name)
    args = ["synthesize", "--bundle", str(BUNDLE), "--checkpoint", str(other), "--num", "1"]
    assert main([*args, "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "disagree on image_size: vae [32, 32], pix2pix [64, 64]" in err, err
    assert main([*args, "--output", str(tmp_path / "p"), "--set", "image_size=[32,32]"]) == 0


@pytest.mark.slow
@pytest.mark.parametrize(
    "stage,definition,key,net,shape",
    [
        (
            "edsr",
            "edsr_def",
            "network",
            lambda: EDSR(2, 3, 3, channels=8, num_res_blocks=1, scale=2, interpolation_skip="bicubic"),
            [1, 3, 16, 16],
        ),
        (
            "pix2pix",
            "generator_def",
            "generator",
            lambda: UNetGenerator(2, 1, 3, channels=4, num_downs=3, norm="instance"),
            [1, 1, 32, 32],
        ),
    ],
)
def test_ckpt_export_gives_torchscript(run, tmp_path, stage, definition, key, net, shape):
    folder = run["out"] / stage
    cmd = [sys.executable, "-m", "monai.bundle", "ckpt_export", definition, "--filepath", str(tmp_path / "n.ts")]
    cmd += ["--ckpt_file", "models/model.pt", "--key_in_ckpt", key, "--meta_file", "configs/metadata.json"]
    cmd += ["--config_file", "configs/inference.json", "--use_trace", "True", "--input_shape", json.dumps(shape)]
    proc = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    scripted = torch.jit.load(str(tmp_path / "n.ts"))
    reference = net()
    reference.load_state_dict(torch.load(folder / "models" / "model.pt", weights_only=True)[key])
    x = torch.rand(*shape) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), reference.eval()(x))


@pytest.mark.parametrize("use_trace", [True, False])
def test_ckpt_export_of_the_vae_decoder_samples_vessel_maps(run, tmp_path, use_trace):
    """``vae_decoder_def`` in RUN/vae: TorchScript latent -> vessel map in [0, 1], the eager VAE's decoded sigmoid."""
    folder = run["out"] / "vae"
    cmd = [sys.executable, "-m", "monai.bundle", "ckpt_export", "vae_decoder_def", "--filepath", str(tmp_path / "d.ts")]
    cmd += ["--ckpt_file", "models/model.pt", "--key_in_ckpt", "network", "--meta_file", "configs/metadata.json"]
    cmd += ["--config_file", "configs/inference.json", "--use_trace", str(use_trace), "--input_shape", "[1, 8]"]
    proc = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    decoder = torch.jit.load(str(tmp_path / "d.ts"))
    assert not any(name.startswith(("encode", "mu", "logvar")) for name, _ in decoder.named_parameters())
    sizes = {"image_size": 32, "latent_size": 8, "channels": [4, 8], "strides": [2, 2], "num_res_units": 1}
    vae = ResidualVAE(2, 1, 1, output_activation=None, **sizes)  # the stage trains logits (BCE)
    vae.load_state_dict(torch.load(folder / "models" / "model.pt", weights_only=True)["network"])
    z = torch.randn(3, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        maps = decoder(z)
        torch.testing.assert_close(maps, torch.sigmoid(vae.eval().decode_latent(z)))
    assert maps.shape == (3, 1, 32, 32) and 0 <= maps.min() and maps.max() <= 1
