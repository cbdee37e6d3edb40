"""DespeckleNet (seed 001): architecture, the multiplicative residual, the median post-filter, autocast."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from medtranslate.networks.despeckle import DespeckleNet


def _zero_body(net: DespeckleNet, bias: float) -> None:
    """Make the last layer output the constant t = tanh(bias), whatever the input."""
    conv = net.inverse_noise.conv
    with torch.no_grad():
        conv.weight.zero_()
        conv.bias.fill_(bias)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_shapes(spatial_dims):
    net = DespeckleNet(spatial_dims, channels=8, num_layers=3, median_filter=True)
    x = torch.rand(2, 1, *([10] * spatial_dims))
    assert net(x).shape == x.shape
    assert net.eval()(x).shape == x.shape


def test_seed_architecture_2d():
    net = DespeckleNet()
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64] * 7 + [1]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) == 6  # intermediate layers only
    assert sum(isinstance(m, nn.PReLU) for m in net.modules()) == 7
    assert isinstance(net.inverse_noise.adn.A, nn.Tanh)
    # conv1 1->64, 7 PReLU scalars, convs 2..7 64->64 with batch norm, last conv 64->1 (3x3 kernels, biases)
    expected = (9 * 64 + 64) + 7 + 6 * (64 * 64 * 9 + 64) + 6 * 2 * 64 + (64 * 9 + 1)
    assert expected == 223_560
    assert sum(p.numel() for p in net.parameters()) == expected


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("bias", [0.0, 0.5, -1.2])
def test_multiplicative_residual_unit_range(spatial_dims, bias):
    net = DespeckleNet(spatial_dims, channels=4, num_layers=2).eval()
    _zero_body(net, bias)
    y = torch.rand(1, 1, *([6] * spatial_dims))
    expected = y * (1.0 + math.tanh(bias))  # X_hat = Y * (1 + t), t = tanh(b)
    torch.testing.assert_close(net(y), expected)
    torch.testing.assert_close(net.noise_factor(y), torch.full_like(y, 1.0 + math.tanh(bias)))


def test_multiplicative_residual_symmetric_range():
    net = DespeckleNet(2, channels=4, num_layers=2, value_range=(-1.0, 1.0)).eval()
    _zero_body(net, 0.3)
    x = torch.rand(1, 1, 5, 5) * 2 - 1
    y = (x + 1) / 2  # the speckle model works on [0, 1] intensities
    expected = y * (1.0 + math.tanh(0.3)) * 2 - 1
    torch.testing.assert_close(net(x), expected)


def test_identity_when_estimate_is_zero():
    """t = 0 means the network leaves the image alone: the residual form of Y = X (1 + F) with F = 0."""
    net = DespeckleNet(2, channels=4, num_layers=2).eval()
    _zero_body(net, 0.0)
    y = torch.rand(2, 1, 7, 7)
    torch.testing.assert_close(net(y), y)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_median_post_filter_eval_only(spatial_dims):
    net = DespeckleNet(spatial_dims, channels=4, num_layers=2, median_filter=True)
    _zero_body(net, 0.0)
    y = torch.zeros(1, 1, *([5] * spatial_dims))
    y[(0, 0) + (2,) * spatial_dims] = 1.0  # one isolated bright pixel: the 3x3(x3) median removes it
    y[(0, 0) + (0,) * spatial_dims] = 0.5
    net.train()
    torch.testing.assert_close(net(y), y)  # post-processing is not part of training
    net.eval()
    torch.testing.assert_close(net(y), torch.zeros_like(y))


def test_median_filter_in_training_when_asked():
    net = DespeckleNet(2, channels=4, num_layers=2, median_filter=True, median_in_training=True).train()
    _zero_body(net, 0.0)
    y = torch.zeros(1, 1, 5, 5)
    y[0, 0, 2, 2] = 1.0
    torch.testing.assert_close(net(y), torch.zeros_like(y))


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_gradients_reach_every_parameter(spatial_dims):
    net = DespeckleNet(spatial_dims, channels=4, num_layers=3).train()
    out = net(torch.rand(2, 1, *([6] * spatial_dims)))
    ((out - 0.5) ** 2).mean().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        if p.ndim > 1:
            assert p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_bf16_autocast(spatial_dims):
    net = DespeckleNet(spatial_dims, channels=4, num_layers=2, median_filter=True).eval()
    x = torch.rand(1, 1, *([6] * spatial_dims))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(x)
    assert out.shape == x.shape and torch.isfinite(out.float()).all()


def test_bad_arguments():
    with pytest.raises(ValueError, match="spatial_dims"):
        DespeckleNet(1)
    with pytest.raises(ValueError, match="num_layers"):
        DespeckleNet(num_layers=0)
    with pytest.raises(ValueError, match="value_range"):
        DespeckleNet(value_range=(1.0, 1.0))
