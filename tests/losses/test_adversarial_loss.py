"""AdversarialLoss and gradient_penalty against values worked out by hand from the formulas."""

from __future__ import annotations

import math

import pytest
import torch

from medtranslate.losses import AdversarialLoss, gradient_penalty

X = [[0.0, 2.0]]  # two patch logits


def _logits(requires_grad: bool = False) -> torch.Tensor:
    return torch.tensor(X, requires_grad=requires_grad)


# mean over the two logits; softplus(v) = ln(1 + e^v)
EXPECTED = {
    # BCE-with-logits: real -> mean softplus(-x), fake -> mean softplus(x)
    ("vanilla", True, True): (math.log(2) + math.log(1 + math.exp(-2))) / 2,
    ("vanilla", False, True): (math.log(2) + math.log(1 + math.exp(2))) / 2,
    ("vanilla", True, False): (math.log(2) + math.log(1 + math.exp(-2))) / 2,
    # least squares to 1 / 0
    ("lsgan", True, True): ((0 - 1) ** 2 + (2 - 1) ** 2) / 2,
    ("lsgan", False, True): (0**2 + 2**2) / 2,
    ("lsgan", True, False): 1.0,
    # hinge: D real relu(1 - x), D fake relu(1 + x), G -mean(x)
    ("hinge", True, True): (1 + 0) / 2,
    ("hinge", False, True): (1 + 3) / 2,
    ("hinge", True, False): -1.0,
    # Wasserstein: D real -mean, D fake +mean, G -mean
    ("wgangp", True, True): -1.0,
    ("wgangp", False, True): 1.0,
    ("wgangp", True, False): -1.0,
}


@pytest.mark.parametrize(("mode", "real", "for_d"), list(EXPECTED))
def test_hand_computed_values(mode, real, for_d):
    loss = AdversarialLoss(mode)(_logits(), target_is_real=real, for_discriminator=for_d)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(EXPECTED[(mode, real, for_d)], abs=1e-6)


def test_label_smoothing():
    loss = AdversarialLoss("lsgan", real_label=0.9)(_logits(), True)
    assert loss.item() == pytest.approx(((0 - 0.9) ** 2 + (2 - 0.9) ** 2) / 2, abs=1e-6)


def test_list_output_uses_last_element():
    feats = torch.full((1, 4, 3, 3), 100.0)
    loss = AdversarialLoss("lsgan")([feats, _logits()], True)
    assert loss.item() == pytest.approx(1.0)
    assert AdversarialLoss("lsgan")((feats, [feats, _logits()]), True).item() == pytest.approx(1.0)


@pytest.mark.parametrize("mode", ["vanilla", "lsgan", "hinge", "wgangp"])
def test_gradient_flows(mode):
    x = _logits(requires_grad=True)
    AdversarialLoss(mode)(x, True, for_discriminator=False).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_vanilla_under_bf16_autocast():
    conv = torch.nn.Conv2d(1, 1, 3)
    img = torch.rand(2, 1, 8, 8)
    expected = AdversarialLoss("vanilla")(conv(img), True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = conv(img)
        assert logits.dtype == torch.bfloat16
        loss = AdversarialLoss("vanilla")(logits, True)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(expected.item(), rel=2e-2)
    loss.backward()
    assert conv.weight.grad is not None


def test_generator_hinge_needs_real_target():
    with pytest.raises(ValueError, match="target_is_real=True"):
        AdversarialLoss("hinge")(_logits(), False, for_discriminator=False)


def test_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        AdversarialLoss("bce")


class _Linear(torch.nn.Module):
    """critic(x) = sum(w * x): its input gradient is w everywhere, so ||grad|| = ||w||."""

    def __init__(self, shape, value: float) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.full(shape, value))

    def forward(self, x):
        return [x, (x * self.w).flatten(1).sum(dim=1)]


@pytest.mark.parametrize(
    ("shape", "value", "expected"),
    [
        ((1, 2, 2), 0.25, 10 * (math.sqrt(4 * 0.25**2) - 1) ** 2),  # ||w|| = 0.5 -> 2.5
        ((1, 2, 2, 2), 0.5, 10 * (math.sqrt(8 * 0.5**2) - 1) ** 2),  # ||w|| = sqrt(2)
    ],
)
def test_gradient_penalty_hand_computed(shape, value, expected):
    critic = _Linear(shape, value)
    real, fake = torch.rand(3, *shape), torch.rand(3, *shape)
    gp = gradient_penalty(critic, real, fake, lambda_gp=10.0)
    assert gp.item() == pytest.approx(expected, rel=1e-5)
    gp.backward()  # create_graph=True: the penalty trains the critic
    # d/dw 10 (||w|| - 1)^2 = 20 (||w|| - 1) w / ||w||
    norm = math.sqrt(math.prod(shape) * value**2)
    torch.testing.assert_close(critic.w.grad, torch.full(shape, 20 * (norm - 1) * value / norm))


def test_gradient_penalty_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        gradient_penalty(_Linear((1, 2, 2), 1.0), torch.rand(1, 1, 2, 2), torch.rand(2, 1, 2, 2))
