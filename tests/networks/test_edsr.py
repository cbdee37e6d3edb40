"""EDSR (seed 004): output shapes for x2 / x3 / x4 in 2D and 3D, the baseline parameter count, residual blocks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from medtranslate.networks.edsr import EDSR, EDSRResBlock


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_output_shape(spatial_dims, scale):
    net = EDSR(spatial_dims, in_channels=3, out_channels=1, channels=8, num_res_blocks=2, scale=scale)
    x = torch.rand(2, 3, *([5] * spatial_dims))
    assert net(x).shape == (2, 1, *([5 * scale] * spatial_dims))


def _baseline_params(stages: int, c: int = 64, blocks: int = 16, k: int = 9) -> int:
    head = 3 * c * k + c
    body = blocks * 2 * (c * c * k + c) + (c * c * k + c)
    upsample = stages * (c * 4 * c * k + 4 * c)  # conv to 4c channels, then pixel shuffle x2
    tail = c * 3 * k + 3
    return head + body + upsample + tail


@pytest.mark.parametrize(("scale", "stages"), [(2, 1), (4, 2)])
def test_baseline_parameter_count(scale, stages):
    """EDSR-baseline (64 channels, 16 blocks): 1.37 M parameters at x2, 1.52 M at x4 (no mean-shift layers)."""
    net = EDSR(scale=scale)
    assert sum(p.numel() for p in net.parameters()) == _baseline_params(stages)
    assert _baseline_params(1) == 1_369_859


def test_no_batch_norm_and_x4_is_two_x2_stages():
    net = EDSR(scale=4)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())
    assert len(net.upsample) == 2 and all(s.scale_factor == 2 for s in net.upsample)


def test_res_scale():
    block = EDSRResBlock(2, 4, res_scale=0.0)
    x = torch.rand(1, 4, 6, 6)
    torch.testing.assert_close(block(x), x)
    block = EDSRResBlock(2, 4, res_scale=0.1)
    torch.testing.assert_close(block(x), x + 0.1 * block.body(x))


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_gradients_and_autocast(spatial_dims):
    net = EDSR(spatial_dims, channels=8, num_res_blocks=1, scale=2)
    x = torch.rand(1, 3, *([4] * spatial_dims))
    net(x).square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(x)
    assert out.shape == (1, 3, *([8] * spatial_dims)) and torch.isfinite(out.float()).all()


@pytest.mark.parametrize("scale", [1, 5, 6, 16])
def test_bad_scale(scale):
    with pytest.raises(ValueError, match="scale"):
        EDSR(scale=scale)


def test_task_networks_build_from_bundle_config():
    """EDSR, DespeckleNet, ResidualVAE and the classifier factory are `_target_`-instantiable."""
    from monai.bundle import ConfigParser

    config = {
        "edsr": {"_target_": "medtranslate.networks.EDSR", "channels": 8, "num_res_blocks": 1, "scale": 4},
        "despeckle": {"_target_": "medtranslate.networks.DespeckleNet", "spatial_dims": 3, "median_filter": True},
        "vae": {"_target_": "medtranslate.networks.ResidualVAE", "image_size": 16, "channels": [4], "strides": [2]},
        "clf": {"_target_": "medtranslate.networks.build_classifier", "name": "resnet18", "in_channels": 1},
    }
    parser = ConfigParser(config)
    assert parser.get_parsed_content("edsr")(torch.rand(1, 3, 4, 4)).shape == (1, 3, 16, 16)
    assert parser.get_parsed_content("despeckle").spatial_dims == 3
    assert parser.get_parsed_content("vae").latent_size == 256
    assert parser.get_parsed_content("clf")(torch.rand(2, 1, 32, 32))[0].shape == (2, 2)
