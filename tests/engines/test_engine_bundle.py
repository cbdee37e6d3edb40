"""The tiny CycleGAN bundle: ``python -m monai.bundle run`` in one process, resumed, and under torchrun (gloo)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

BUNDLE = Path(__file__).parent / "configs" / "tiny_cyclegan"
CONFIGS = BUNDLE / "configs"
BIN = Path(sys.executable).parent


@pytest.fixture
def dataset_dir(tmp_path):
    rng = np.random.default_rng(0)
    for domain, n in (("A", 4), ("B", 3)):
        (tmp_path / "data" / domain).mkdir(parents=True)
        for i in range(n):
            img = nib.Nifti1Image(rng.random((20, 20)).astype(np.float32), np.eye(4))
            nib.save(img, tmp_path / "data" / domain / f"{i}.nii.gz")
    return tmp_path / "data"


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _args(config_file, dataset_dir, output_dir):
    return [
        "run",
        "--config_file",
        config_file,
        "--meta_file",
        str(CONFIGS / "metadata.json"),
        "--bundle_root",
        str(BUNDLE),
        "--dataset_dir",
        str(dataset_dir),
        "--output_dir",
        str(output_dir),
    ]


@pytest.mark.slow
def test_bundle_runs_and_resumes(tmp_path, dataset_dir):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "monai.bundle", *_args(str(CONFIGS / "train.json"), dataset_dir, out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpts = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert ckpts == ["checkpoint_00000006.pt", "checkpoint_00000008.pt"]  # every 2 iterations, newest 2 kept
    assert (out / "loss.png").is_file() and list((out / "samples").glob("*.png"))
    assert list((out / "tensorboard").glob("events.*"))
    assert "loss_G" in proc.stderr + proc.stdout  # StatsHandler lines

    # the same bundle with more epochs resumes from the newest checkpoint of @ckpt_dir (in-process: no re-import)
    from monai.bundle import run

    run(
        **dict(
            zip(
                ["config_file", "meta_file", "bundle_root", "dataset_dir", "output_dir"],
                [str(CONFIGS / "train.json"), str(CONFIGS / "metadata.json"), str(BUNDLE), str(dataset_dir), str(out)],
            )
        ),
        max_epochs=3,
    )
    ckpt = torch.load(out / "checkpoints" / "checkpoint_00000012.pt", weights_only=True)
    assert ckpt["meta"]["epoch"] == 3 and ckpt["scheduler_0"]["last_epoch"] == 2
    assert ckpt["loss_plot"]["iterations"].tolist() == list(range(1, 13))


@pytest.mark.slow
def test_bundle_under_torchrun_with_gloo(tmp_path, dataset_dir):
    out = tmp_path / "out"
    config = f"['{CONFIGS / 'train.json'}','{CONFIGS / 'multi_gpu_train.json'}']"
    cmd = [
        str(BIN / "torchrun"),
        "--standalone",
        "--nnodes=1",
        "--nproc_per_node=2",
        "-m",
        "monai.bundle",
        *_args(config, dataset_dir, out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpts = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert ckpts == ["checkpoint_00000002.pt", "checkpoint_00000004.pt"]  # 4 items over 2 ranks: 2 iterations/epoch
    assert len(list((out / "tensorboard").glob("events.*"))) == 1  # rank 0 only
    ckpt = torch.load(out / "checkpoints" / "checkpoint_00000004.pt", weights_only=True)
    assert not any(k.startswith("module.") for k in ckpt["g_ab"])
