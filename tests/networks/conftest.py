"""Helpers for the network tests: gradient-flow and autocast checks on tiny inputs."""

from __future__ import annotations

import pytest
import torch


def _assert_grads_reach_every_parameter(net: torch.nn.Module, x: torch.Tensor) -> None:
    """Every parameter gets a finite gradient, and every weight tensor a non-zero one."""
    net.train()
    net.zero_grad(set_to_none=True)
    out = net(x)
    (out.float() ** 2).mean().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None]
    assert not missing, f"no gradient reached {missing}"
    bad = [n for n, p in net.named_parameters() if not torch.isfinite(p.grad).all()]
    assert not bad, f"non-finite gradient in {bad}"
    # biases right before a non-affine instance norm get ~0 gradient by construction; weights never should
    zero = [n for n, p in net.named_parameters() if p.ndim > 1 and p.grad.abs().sum() == 0]
    assert not zero, f"zero gradient in {zero}"


def _assert_runs_under_bf16_autocast(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Forward under CPU bfloat16 autocast gives a finite output of the eager shape."""
    net.eval()
    with torch.no_grad():
        ref = net(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = net(x)
    assert out.shape == ref.shape
    assert torch.isfinite(out.float()).all()
    return out


@pytest.fixture
def assert_grads_reach_every_parameter():
    """The gradient-flow check, as a fixture."""
    return _assert_grads_reach_every_parameter


@pytest.fixture
def assert_runs_under_bf16_autocast():
    """The bf16 autocast check, as a fixture."""
    return _assert_runs_under_bf16_autocast
