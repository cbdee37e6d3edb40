"""A training run yields a ready-to-use bundle (issue 10, part 1): ct2mri trained at non-default sizes translates with
no overrides from its own bundle folder, through ``python -m monai.bundle run``, and from the source bundle given only
the checkpoint; a checkpoint without settings fails in one line naming tensors and keys; ``ckpt_export`` works."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from medtranslate.cli.main import main
from medtranslate.networks import ResNetGenerator

BUNDLE = Path(__file__).parents[2] / "bundles" / "ct2mri"
CONFIGS = BUNDLE / "configs"
SIZES = {"image_size": [32, 32], "gen_channels": 8, "gen_res_blocks": 2}  # not the bundle's 256 / 64 / 9


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from medtranslate.data.samples import write_sample_dataset

    root = tmp_path_factory.mktemp("trained_bundle")
    write_sample_dataset(root / "data", "ct_mr", n=4, seed=0, shape=(32, 32, 16))
    out = root / "run"
    args = [sys.executable, "-m", "monai.bundle", "run", "--config_file", str(CONFIGS / "train.json")]
    args += ["--meta_file", str(CONFIGS / "metadata.json"), "--bundle_root", str(BUNDLE)]
    args += ["--dataset_dir", str(root / "data"), "--output_dir", str(out)]
    tiny = {"disc_channels": 4, "disc_layers": 1, "slices_per_volume": 2, "max_epochs": 1, "n_constant_epochs": 1}
    for k, v in {**tiny, "n_decay_epochs": 1, "checkpoint_interval": 100, **SIZES}.items():
        args += [f"--{k}", json.dumps(v)]
    proc = subprocess.run(args, capture_output=True, text=True, env=_env(), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ct = next((root / "data" / "ct").glob("*.nii.gz"))
    return {"root": root, "out": out, "ct": ct}


def _translated(folder: Path) -> np.ndarray:
    (path,) = folder.glob("*.nii.gz")
    return np.asarray(nib.load(path).dataobj)


@pytest.mark.slow
def test_the_run_folder_is_a_bundle_with_the_runs_settings(run):
    out = run["out"]
    assert {p.name for p in (out / "configs").iterdir()} >= {"inference.json", "evaluate.json", "metadata.json"}
    assert (out / "models" / "model.pt").is_file() and (out / "docs" / "README.md").is_file()
    config = json.loads((out / "configs" / "inference.json").read_text())
    assert {k: config[k] for k in SIZES} == SIZES and config["hu_window"] == [-1000, 2000]
    meta = json.loads((out / "configs" / "metadata.json").read_text())
    assert meta["medtranslate_training"]["settings"]["gen_channels"] == 8
    ckpt = torch.load(sorted((out / "checkpoints").glob("checkpoint_*.pt"))[-1], weights_only=True)
    assert ckpt["settings"]["image_size"] == [32, 32]
    model = torch.load(out / "models" / "model.pt", weights_only=True)
    assert set(model) == {"g_ab", "g_ba", "settings"}
    for key in ("g_ab", "g_ba"):  # the bundle ships the final weights, as the last checkpoint holds them
        for name, tensor in model[key].items():
            torch.testing.assert_close(tensor, ckpt[key][name])


@pytest.mark.slow
def test_translate_needs_no_overrides_three_ways(run, tmp_path, capsys):
    out, ct = run["out"], run["ct"]
    # 1. the run's own bundle folder
    assert main(["translate", "--bundle", str(out), "--input", str(ct), "--output", str(tmp_path / "a")]) == 0
    # 2. the source bundle and the run's checkpoints: the checkpoint carries the settings
    args = ["translate", "--bundle", str(BUNDLE), "--input", str(ct), "--output", str(tmp_path / "b")]
    assert main([*args, "--checkpoint", str(out / "checkpoints")]) == 0
    # 3. MONAI's own runner inside the run's folder
    cmd = [sys.executable, "-m", "monai.bundle", "run", "--config_file", "configs/inference.json"]
    cmd += ["--input_path", str(ct), "--output_dir", str(tmp_path / "c")]
    proc = subprocess.run(cmd, cwd=out, capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b, c = (_translated(tmp_path / x) for x in "abc")
    assert a.shape == nib.load(ct).shape
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    # an explicit --set wins over the checkpoint's settings: another image size, another output
    assert (
        main([*args[:-1], str(tmp_path / "d"), "--checkpoint", str(out / "checkpoints"), "--set", "image_size=[16,16]"])
        == 0
    )
    assert not np.array_equal(a, _translated(tmp_path / "d"))


@pytest.mark.slow
def test_weights_that_do_not_fit_name_the_tensors_and_keys(run, tmp_path, capsys):
    """A checkpoint without settings (as older runs wrote them) on the default-sized bundle: one line."""
    ckpt = torch.load(sorted((run["out"] / "checkpoints").glob("checkpoint_*.pt"))[-1], weights_only=True)
    del ckpt["settings"]
    torch.save(ckpt, tmp_path / "old.pt")
    args = ["translate", "--bundle", str(BUNDLE), "--input", str(run["ct"]), "--output", str(tmp_path / "o")]
    assert main([*args, "--checkpoint", str(tmp_path / "old.pt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "weights of 'g_ab' do not fit this network" in err and "saved (8, 1, 7, 7), network (64, 1, 7, 7)" in err
    assert "gen_channels, gen_downsamplings, gen_res_blocks" in err


@pytest.mark.slow
def test_ckpt_export_gives_a_torchscript_generator(run, tmp_path):
    out = run["out"]
    cmd = [sys.executable, "-m", "monai.bundle", "ckpt_export", "network_def", "--filepath", str(tmp_path / "g.ts")]
    cmd += ["--ckpt_file", "models/model.pt", "--key_in_ckpt", "g_ab", "--meta_file", "configs/metadata.json"]
    cmd += ["--config_file", "configs/inference.json", "--use_trace", "True", "--input_shape", "[1, 1, 32, 32]"]
    proc = subprocess.run(cmd, cwd=out, capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    scripted = torch.jit.load(str(tmp_path / "g.ts"))
    net = ResNetGenerator(2, 1, 1, channels=8, num_downsamplings=2, num_res_blocks=2, norm="instance")
    net.load_state_dict(torch.load(out / "models" / "model.pt", weights_only=True)["g_ab"])
    x = torch.rand(1, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), net.eval()(x))
