"""Export: every generator (and the discriminator) through torch.export and TorchScript tracing, and the MONAI bundle
route ``python -m monai.bundle ckpt_export`` for ResNetGenerator; weights loaded back give the same output."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from medtranslate.modelio.checkpoint import atomic_save_torch
from medtranslate.networks import PatchDiscriminator, ResNetGenerator, UNetGenerator, resnet_generator_preset

NETS = [
    ("resnet-2d", lambda: ResNetGenerator(2, 1, 3, channels=4, num_res_blocks=2), (1, 1, 16, 24)),
    (
        "resnet-3d-oct2confocal",
        lambda: resnet_generator_preset("oct2confocal_cyclegan3", 1, 3, channels=2, num_res_blocks=1),
        (1, 1, 9, 24, 24),
    ),
    ("unet-2d", lambda: UNetGenerator(2, 3, 3, channels=4, num_downs=5), (2, 3, 32, 32)),
    ("unet-3d", lambda: UNetGenerator(3, 1, 1, channels=4, num_downs=3, strides=(1, 2, 2)), (1, 1, 3, 16, 16)),
    (
        "patch-3d",
        lambda: PatchDiscriminator(3, 2, channels=4, kernel_size=(3, 4, 4), strides=(1, 2, 2)),
        (1, 2, 9, 32, 32),
    ),
]


@pytest.mark.parametrize("factory,shape", [c[1:] for c in NETS], ids=[c[0] for c in NETS])
def test_torch_export(factory, shape):
    net = factory().eval()
    x = torch.randn(*shape)
    exported = torch.export.export(net, (x,))
    with torch.no_grad():
        torch.testing.assert_close(exported.module()(x), net(x))


# torch's own InstanceNorm shape check warns while tracing; the traced graph is still checked against eager below
@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
@pytest.mark.parametrize("factory,shape", [c[1:] for c in NETS[:4]], ids=[c[0] for c in NETS[:4]])
def test_torchscript_trace_save_load(factory, shape, tmp_path):
    net = factory().eval()
    x = torch.randn(*shape)
    with torch.no_grad():
        traced = torch.jit.trace(net, x)
    traced.save(str(tmp_path / "net.ts"))
    loaded = torch.jit.load(str(tmp_path / "net.ts"))
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x))


@pytest.mark.slow  # starts a Python process that imports torch and MONAI: 7 s on a quiet machine, ~18 s loaded
def test_bundle_ckpt_export_of_resnet_generator(tmp_path):
    """The MONAI bundle route: config with ``_target_``, checkpoint, ``python -m monai.bundle ckpt_export``."""
    net_config = {
        "_target_": "medtranslate.networks.ResNetGenerator",
        "spatial_dims": 2,
        "in_channels": 1,
        "out_channels": 3,
        "channels": 4,
        "num_res_blocks": 2,
    }
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "inference.json").write_text(json.dumps({"network_def": net_config}))
    (tmp_path / "configs" / "metadata.json").write_text(json.dumps({"version": "0.1.0", "name": "tiny"}))
    net = ResNetGenerator(2, 1, 3, channels=4, num_res_blocks=2)
    with torch.no_grad():  # a trained-looking state: non-default weights
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    atomic_save_torch(net.state_dict(), tmp_path / "models" / "model.pt")

    cmd = [
        sys.executable,
        "-m",
        "monai.bundle",
        "ckpt_export",
        "network_def",
        "--filepath",
        "models/model.ts",
        "--ckpt_file",
        "models/model.pt",
        "--meta_file",
        "configs/metadata.json",
        "--config_file",
        "configs/inference.json",
        "--use_trace",
        "True",
        "--input_shape",
        "[1, 1, 16, 16]",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]

    extra = {"metadata.json": "", "inference.json": ""}
    exported = torch.jit.load(str(tmp_path / "models" / "model.ts"), _extra_files=extra)
    assert json.loads(extra["inference.json"])["network_def"]["_target_"] == net_config["_target_"]

    reloaded = ResNetGenerator(2, 1, 3, channels=4, num_res_blocks=2)
    reloaded.load_state_dict(torch.load(tmp_path / "models" / "model.pt", weights_only=True))
    x = torch.rand(2, 1, 24, 32) * 2 - 1  # another batch and size than the trace's
    with torch.no_grad():
        torch.testing.assert_close(exported(x), reloaded.eval()(x))
        torch.testing.assert_close(reloaded(x), net.eval()(x))
