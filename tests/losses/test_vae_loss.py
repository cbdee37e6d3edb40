"""VAELoss (seed 004): reconstruction sums and the Gaussian KL against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from medtranslate.losses import VAELoss

REC = torch.zeros(2, 1, 2, 2)
TARGET = torch.ones(2, 1, 2, 2)
MU = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
LOGVAR = torch.zeros(2, 2)
# KL_b = -1/2 sum(1 + logvar - mu^2 - e^logvar): sample 0 -> 0.5, sample 1 -> 0; batch mean 0.25


@pytest.mark.parametrize(("reconstruction", "per_sample"), [("mse", 4.0), ("l1", 4.0), ("bce", 4 * math.log(2))])
def test_terms_hand_computed(reconstruction, per_sample):
    rec_term, kl_term = VAELoss(reconstruction=reconstruction).terms(REC, TARGET, MU, LOGVAR)
    assert rec_term.item() == pytest.approx(per_sample, rel=1e-6)  # (0 - 1)^2 or |0 - 1| or softplus(-0), 4 pixels
    assert kl_term.item() == pytest.approx(0.25)


@pytest.mark.parametrize(("beta", "expected"), [(1.0, 4.25), (2.0, 4.5), (0.0, 4.0)])
def test_beta(beta, expected):
    assert VAELoss(beta=beta)(REC, TARGET, MU, LOGVAR).item() == pytest.approx(expected)


def test_kl_with_variance():
    mu, logvar = torch.zeros(1, 3), torch.full((1, 3), math.log(2.0))
    # per dimension -1/2 (1 + ln 2 - 0 - 2) = (1 - ln 2) / 2
    _, kl = VAELoss().terms(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2), mu, logvar)
    assert kl.item() == pytest.approx(3 * (1 - math.log(2)) / 2, rel=1e-6)


def test_gradients_and_autocast():
    rec = torch.zeros(2, 1, 2, 2, requires_grad=True)
    mu = MU.clone().requires_grad_(True)
    logvar = LOGVAR.clone().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = VAELoss()(rec.to(torch.bfloat16), TARGET, mu.to(torch.bfloat16), logvar)
    assert loss.dtype == torch.float32
    loss.backward()
    assert rec.grad.abs().sum() > 0 and mu.grad.abs().sum() > 0 and logvar.grad is not None


def test_bce_needs_unit_range_targets_and_bad_arguments():
    with pytest.raises(ValueError, match=r"targets in \[0, 1\]"):
        VAELoss(reconstruction="bce")(REC, -TARGET, MU, LOGVAR)
    with pytest.raises(ValueError, match="reconstruction must be"):
        VAELoss(reconstruction="ssim")
    with pytest.raises(ValueError, match="beta"):
        VAELoss(beta=-1.0)
    with pytest.raises(ValueError, match="differ in shape"):
        VAELoss()(REC, TARGET[:, :, :1], MU, LOGVAR)


def test_the_vae_output_tuple_is_accepted_as_a_supervised_trainer_passes_it():
    rec, target = torch.randn(2, 1, 4, 4), torch.rand(2, 1, 4, 4)
    mu, logvar = torch.randn(2, 3), torch.randn(2, 3)
    loss = VAELoss(reconstruction="bce")
    assert torch.equal(loss((rec, mu, logvar, mu), target), loss(rec, target, mu, logvar))
    with pytest.raises(ValueError, match="mu and logvar"):
        loss(rec, target)
