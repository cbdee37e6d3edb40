"""Whole-volume translation with overlapping windows: stitching, channels, padding, kinds, AMP, errors, OOM retry."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.networks.layers.factories import Conv
from torch import nn

from medtranslate.errors import ConfigError, InputError
from medtranslate.inferers import VolumeTranslator, translate_volume

CASES = {2: ((40, 36), (16, 16)), 3: ((10, 20, 18), (4, 8, 8))}


def pointwise(spatial_dims: int, cin: int = 1, cout: int = 3) -> nn.Module:
    """A 1x1 convolution: any weighted blend of its window outputs equals its output on the whole volume."""
    torch.manual_seed(0)
    return Conv[Conv.CONV, spatial_dims](cin, cout, kernel_size=1)


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("mode", ["gaussian", "constant"])
def test_stitching_is_exact_for_a_pointwise_network_and_maps_1_to_3_channels(spatial_dims, mode):
    shape, roi = CASES[spatial_dims]
    net = pointwise(spatial_dims)
    x = torch.rand(1, *shape) * 2 - 1  # (C, *spatial), no batch axis
    y = translate_volume(net, x, roi, sw_batch_size=3, overlap=0.5, mode=mode)
    with torch.no_grad():
        ref = net(x[None])[0]
    assert y.shape == (3, *shape) and y.dtype == torch.float32
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pad_mode", ["reflect", "replicate", "constant"])
def test_stacks_shallower_than_the_window_are_padded_and_cropped_back(pad_mode):
    net = pointwise(3)
    x = torch.rand(1, 3, 20, 20) * 2 - 1  # 3 slices, window depth 9: pad 3 + 3 (> size, fine for reflect here)
    y = translate_volume(net, x, (9, 16, 16), pad_mode=pad_mode, padding_cval=-1.0)
    with torch.no_grad():
        ref = net(x[None])[0]
    assert y.shape == (3, 3, 20, 20)
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)


def test_padding_choice_reaches_the_network():
    seen = []

    class Spy(nn.Module):
        def forward(self, x):
            seen.append(x.clone())
            return x

    x = torch.rand(1, 2, 8, 8)
    translate_volume(Spy(), x, (6, 8, 8), pad_mode="constant", padding_cval=-1.0, sw_batch_size=1)
    assert torch.all(seen[0][0, 0, :2] == -1.0) and torch.all(seen[0][0, 0, 4:] == -1.0)
    seen.clear()
    translate_volume(Spy(), x, (6, 8, 8), pad_mode="reflect", sw_batch_size=1)
    torch.testing.assert_close(seen[0][0, 0], x[0, [0, 1, 0, 1, 0, 1]])  # mirrored without repeating the edge


def test_kinds_and_layouts_are_preserved():
    net = pointwise(2, cin=1, cout=2)
    x = np.random.default_rng(0).random((2, 1, 20, 20)).astype(np.float64)  # batched numpy
    y = translate_volume(net, x, (16, 16))
    assert isinstance(y, np.ndarray) and y.shape == (2, 2, 20, 20)
    meta = MetaTensor(torch.rand(1, 20, 20), affine=torch.diag(torch.tensor([0.5, 0.7, 1.0, 1.0])))
    out = translate_volume(net, meta, (16, 16))
    assert isinstance(out, MetaTensor) and out.shape == (2, 20, 20)
    torch.testing.assert_close(out.affine, meta.affine)
    ints = torch.randint(0, 5, (1, 20, 20), dtype=torch.int16)
    assert translate_volume(net, ints, (16, 16)).dtype == torch.float32


def test_network_runs_in_eval_mode_and_its_flag_is_restored():
    modes = []

    class Probe(nn.Module):
        def forward(self, x):
            modes.append(self.training)
            return x

    probe = Probe().train()
    translate_volume(probe, torch.rand(1, 20, 20), (16, 16))
    assert modes and not any(modes) and probe.training


def test_bf16_autocast_is_close_to_float32():
    torch.manual_seed(0)
    net = nn.Sequential(Conv[Conv.CONV, 3](1, 4, 3, padding=1), nn.InstanceNorm3d(4), nn.ReLU(), nn.Conv3d(4, 3, 1))
    x = torch.rand(1, 8, 16, 16) * 2 - 1
    y32 = translate_volume(net, x, (8, 8, 8))
    y16 = translate_volume(net, x, (8, 8, 8), amp="bf16")
    assert y16.dtype == torch.float32
    assert (y16 - y32).abs().max() < 0.1


def test_out_of_memory_retries_with_smaller_window_batches(caplog):
    net = pointwise(2)
    calls = []

    def fragile(x):
        calls.append(x.shape[0])
        if x.shape[0] > 1:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return net(x)

    x = torch.rand(1, 40, 36)
    y = translate_volume(fragile, x, (16, 16), sw_batch_size=4)
    torch.testing.assert_close(y, translate_volume(net, x, (16, 16), sw_batch_size=1))
    assert calls[0] == 4 and 2 in calls and calls[-1] == 1
    assert "sw_batch_size=1" in caplog.text
    with pytest.raises(torch.OutOfMemoryError):
        translate_volume(fragile, x, (16, 16), sw_batch_size=4, oom_fallback=False)


def test_errors():
    net = pointwise(3)
    with pytest.raises(InputError, match="scan.nii.gz: expected"):
        VolumeTranslator((4, 8, 8))(net, torch.rand(8, 8), name="scan.nii.gz")
    bad = torch.rand(1, 4, 8, 8)
    bad[0, 0, 0, 0] = float("inf")
    with pytest.raises(InputError, match="NaN or infinite"):
        translate_volume(net, bad, (4, 8, 8))
    for kwargs in ({"overlap": 1.0}, {"amp": "fp8"}, {"pad_mode": "wrap"}, {"mode": "median"}, {"sw_batch_size": 0}):
        with pytest.raises(ConfigError):
            VolumeTranslator((4, 8, 8), **kwargs)
    shrinking = Conv[Conv.CONV, 3](1, 1, kernel_size=3)  # no padding: the window shrinks
    with pytest.raises(ConfigError, match="roi_size"):
        translate_volume(shrinking, torch.rand(1, 4, 8, 8), (4, 8, 8))
    with pytest.raises(ConfigError, match="move it"):
        translate_volume(pointwise(3).to("meta"), torch.rand(1, 4, 8, 8), (4, 8, 8), device="cpu")


@pytest.mark.parametrize("sw_batch_size", [1, 3])
def test_the_input_is_never_modified(sw_batch_size):
    x = torch.rand(1, 40, 36)
    before = x.clone()
    y = translate_volume(nn.Identity(), x, (16, 16), sw_batch_size=sw_batch_size)
    assert torch.equal(x, before)
    torch.testing.assert_close(y, x)
