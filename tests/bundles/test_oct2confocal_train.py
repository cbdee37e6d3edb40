"""OCT2Confocal bundle, training side: metadata, paper defaults, variants, data wiring and bad training data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

BUNDLE = Path(__file__).resolve().parents[2] / "bundles" / "oct2confocal"
CONFIGS = BUNDLE / "configs"
VARIANTS = ["cyclegan2", "cyclegan_gl", "unet", "wgan_gp", "cyclegan2d"]
#: Tiny sizes: 3 in-plane downsamplings + reflection padding need at least 24 x 24 windows.
TINY = {
    "channels": 2,
    "num_res_blocks": 1,
    "d_channels": 2,
    "load_size": 28,
    "crop_size": 24,
    "unet_num_downs": 2,
    "max_epochs": 1,
    "checkpoint_interval": 1,
    "sample_interval": 1,
    "loss_plot_interval": 1,
    "pool_size": 2,
}


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    from medtranslate.data.samples import write_sample_dataset

    return write_sample_dataset(tmp_path_factory.mktemp("oc"), "oct_confocal", n=2, seed=0, shape=(16, 32, 32))


def _parser(files, **overrides):
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config([str(f) for f in files])
    parser.read_meta(str(CONFIGS / "metadata.json"))
    parser.update({"bundle_root": str(BUNDLE), **overrides})
    return parser


def _variant_files(variant):
    files = [CONFIGS / "train.json"]
    if variant != "paper":
        files.append(CONFIGS / "variants" / f"{variant}.json")
    return files


def test_metadata_verifies_offline():
    # monai.bundle verify_metadata finds the shipped schema and does not download it
    cmd = [sys.executable, "-m", "monai.bundle", "verify_metadata", "--meta_file", str(CONFIGS / "metadata.json")]
    cmd += ["--filepath", str(CONFIGS / "meta_schema.json")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={"OMP_NUM_THREADS": "1", "PATH": ""})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "verified with no error" in proc.stdout + proc.stderr


def test_meta_schema_rejects_incomplete_metadata():
    import jsonschema

    schema = json.loads((CONFIGS / "meta_schema.json").read_text())
    meta = json.loads((CONFIGS / "metadata.json").read_text())
    jsonschema.validate(meta, schema)
    for key in ("version", "network_data_format"):
        bad = {k: v for k, v in meta.items() if k != key}
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
    bad = json.loads(json.dumps(meta))
    del bad["network_data_format"]["inputs"]["image"]["num_channels"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_meta_schema_identical_across_bundles():
    copies = sorted((BUNDLE.parent).glob("*/configs/meta_schema.json"))
    assert CONFIGS / "meta_schema.json" in copies
    texts = {p.read_bytes() for p in copies}
    assert len(texts) == 1, f"meta_schema.json differs between {', '.join(str(p) for p in copies)}"


def test_paper_defaults():
    from medtranslate.networks import count_parameters

    parser = _parser([CONFIGS / "train.json"])
    cfg = parser.get()
    assert cfg["lr"] == 2e-5 and cfg["batch_size"] == 1 and cfg["depth"] == 9
    assert cfg["adversarial_mode"] == "vanilla" and cfg["lambda_gradient"] > 0 and cfg["lambda_identity"] > 0
    assert cfg["load_size"] == 522 and cfg["crop_size"] == 512 and cfg["zoom"] == [0.9, 1.1]
    assert cfg["g_optimizer"]["betas"][0] == 0.5
    with torch.device("meta"):  # the full-size networks, built for free
        g = parser.get_parsed_content("network_def")
        f = parser.get_parsed_content("network_def_ba")
        d_b = parser.get_parsed_content("discriminator_def_b")
    assert count_parameters(g) == 191_069_635  # preset oct2confocal_cyclegan3, 1 -> 3
    assert count_parameters(d_b) == 8_292_289  # patchgan_70x70x9, 3 channels
    assert count_parameters(f) > 190e6


@pytest.mark.parametrize("variant", ["paper", *VARIANTS])
def test_variant_trains_one_iteration(tmp_path, samples, variant):
    overrides = {**TINY, "dataset_dir": str(samples.parent), "output_dir": str(tmp_path / "out")}
    parser = _parser(_variant_files(variant), **overrides)
    parser.get_parsed_content("initialize")  # set_determinism
    trainer = parser.get_parsed_content("train#trainer")
    batch = parser.get_parsed_content("train#dataset")[0]
    spatial = [9, 24, 24] if variant != "cyclegan2d" else [24, 24]
    assert list(batch["A"].shape) == [1, *spatial] and list(batch["B"].shape) == [3, *spatial]
    assert batch["A"].dtype == torch.float32 and -1 <= batch["A"].min() and batch["B"].max() <= 1
    trainer.run()
    out = trainer.state.output
    assert np.isfinite(float(out["loss_G"]))
    if variant in ("cyclegan2", "cyclegan2d"):
        assert "loss_grad_AB" not in out or float(out["loss_grad_AB"]) == 0.0
    else:
        assert float(out["loss_grad_AB"]) > 0
    ckpt = sorted((tmp_path / "out" / "checkpoints").glob("checkpoint_*.pt"))
    assert ckpt, "no checkpoint written"
    state = torch.load(ckpt[-1], weights_only=True)
    assert {"g_ab", "g_ba", "d_a", "d_b"} <= set(state)
    assert state["settings"]["channels"] == TINY["channels"]
    # the run's folder is a bundle whose inference networks fit the weights, variants included (docs/training.md)
    from monai.bundle import ConfigParser

    exported = ConfigParser()
    exported.read_config(str(tmp_path / "out" / "configs" / "inference.json"))
    exported.update({"bundle_root": str(tmp_path / "out")})
    weights = torch.load(tmp_path / "out" / "models" / "model.pt", weights_only=True)
    exported.get_parsed_content("network_def").load_state_dict(weights["g_ab"])
    exported.get_parsed_content("network_def_ba").load_state_dict(weights["g_ba"])
    if variant == "paper":  # MONAI's ckpt_export gives the run's TorchScript generator
        _check_ckpt_export(tmp_path / "out", exported.get_parsed_content("network_def"), [1, 1, 9, 24, 24])


def _check_ckpt_export(run: Path, net: torch.nn.Module, shape: list[int]) -> None:
    cmd = [sys.executable, "-m", "monai.bundle", "ckpt_export", "network_def", "--filepath", str(run / "g.ts")]
    cmd += ["--ckpt_file", "models/model.pt", "--key_in_ckpt", "g_ab", "--meta_file", "configs/metadata.json"]
    cmd += ["--config_file", "configs/inference.json", "--use_trace", "True", "--input_shape", json.dumps(shape)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=run, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    x = torch.rand(*shape) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(torch.jit.load(str(run / "g.ts"))(x), net.eval()(x))


def test_wgan_gp_variant_follows_gulrajani(tmp_path, samples):
    # WGAN-GP paper: critic loss D(fake) - D(real) + 10 * GP (no 0.5), critic on the current fakes (no history pool)
    tiny = {k: v for k, v in TINY.items() if k != "pool_size"}
    overrides = {**tiny, "dataset_dir": str(samples.parent), "output_dir": str(tmp_path / "out")}
    parser = _parser(_variant_files("wgan_gp"), **overrides)
    assert parser.get()["pool_size"] == 0 and parser.get()["lambda_gp"] == 10.0
    trainer = parser.get_parsed_content("train#trainer")
    assert trainer.d_loss_weight == 1.0 and trainer.pool_a.pool_size == 0 and trainer.pool_b.pool_size == 0
    assert trainer.gradient_penalty is not None and trainer.adversarial_loss.mode == "wgangp"
    paper = _parser([CONFIGS / "train.json"], **overrides).get_parsed_content("train#trainer")
    assert paper.d_loss_weight == 0.5 and paper.pool_a.pool_size == 50 and paper.gradient_penalty is None
    card = (BUNDLE / "docs" / "README.md").read_text()
    assert "no image history pool" in card and "no 0.5 factor" in card


def test_augmentation_keeps_depth_and_flips_in_plane():
    from medtranslate.transforms.augment import slab_augmentation

    x = torch.arange(1 * 12 * 8 * 8, dtype=torch.float32).reshape(1, 12, 8, 8)
    aug = slab_augmentation("image", spatial_dims=3, depth=9, zoom=(1.0, 1.0), flip_prob=1.0)
    aug.set_random_state(0)
    y = aug({"image": x})["image"]
    assert tuple(y.shape) == (1, 9, 8, 8)
    start = int(y[0, 0, 0, -1]) // 64  # flipped along W: the first element of the row is the old last one
    assert torch.equal(torch.as_tensor(y), x[:, start : start + 9].flip(-1))
    zoomed = slab_augmentation("image", spatial_dims=3, depth=9, zoom=(0.9, 1.1), flip_prob=0.0)
    zoomed.set_random_state(1)
    assert tuple(zoomed({"image": x})["image"].shape) == (1, 9, 8, 8)


@pytest.mark.parametrize(
    "kind, message",
    [
        ("rgb_oct", "OCT: 3 channel(s), expected 1"),
        ("gray_confocal", "confocal: 1 channel(s), expected 3"),
        ("shallow_confocal", "confocal: stack of 5 slices is shallower than the 9 needed"),
        ("flat_oct", "expected a 3D stack"),
    ],
)
def test_bad_training_data_named(tmp_path, samples, kind, message):
    from medtranslate.data import load_datalist
    from medtranslate.errors import InputError
    from medtranslate.io import save_image

    dl = load_datalist(samples)
    oct_file = dl["training"]["domain_a"][0]["image"]
    conf_file = dl["training"]["domain_b"][0]["image"]
    rng = np.random.default_rng(0)
    if kind == "rgb_oct":
        oct_file = str(save_image(rng.integers(0, 255, (3, 12, 32, 32)).astype(np.uint8), tmp_path / "rgb.nii.gz"))
    elif kind == "flat_oct":
        oct_file = str(save_image(rng.integers(0, 255, (1, 32, 32)).astype(np.uint8), tmp_path / "flat.nii.gz"))
    elif kind == "gray_confocal":
        conf_file = str(save_image(rng.integers(0, 255, (1, 32, 32, 12)).astype(np.uint8), tmp_path / "gray.tif"))
    else:
        conf_file = str(save_image(rng.integers(0, 255, (3, 32, 32, 5)).astype(np.uint8), tmp_path / "thin.tif"))
    datalist = {"training": {"domain_a": [{"image": oct_file}], "domain_b": [{"image": conf_file}]}}
    (tmp_path / "datalist.json").write_text(json.dumps(datalist))
    parser = _parser([CONFIGS / "train.json"], **TINY, dataset_dir=str(tmp_path), output_dir=str(tmp_path / "out"))
    with pytest.raises(Exception) as err:  # MONAI wraps it ("Failed to instantiate", "applying transform")
        parser.get_parsed_content("train#dataset")[0]
    cause = err.value
    while cause is not None and not isinstance(cause, InputError):
        cause = cause.__cause__
    assert cause is not None, f"no InputError behind {err.value!r}"
    text = str(cause)
    assert message in text
    bad = oct_file if kind in ("rgb_oct", "flat_oct") else conf_file
    assert text.startswith(bad) and "\n" not in text
