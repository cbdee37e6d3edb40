"""The trainers' losses against the reference formulas, computed by hand on copies of fixed tiny networks.

CycleGAN (Zhu et al. 2017; junyanz/pytorch-CycleGAN-and-pix2pix ``cycle_gan_model.py``), LSGAN:
``loss_G = MSE(D_B(G_AB(A)), 1) + MSE(D_A(G_BA(B)), 1) + lambda * (|G_BA(G_AB(A)) - A| + |G_AB(G_BA(B)) - B|)
+ 0.5 * lambda * (|G_AB(B) - B| + |G_BA(A) - A|)`` with lambda 10, and ``loss_D_X = 0.5 * (MSE(D_X(real), 1) +
MSE(D_X(fake), 0))``. pix2pix (``pix2pix_model.py``): ``loss_D = 0.5 * (BCE(D(A, fake), 0) + BCE(D(A, B), 1))``,
``loss_G = BCE(D(A, fake), 1) + 100 * |fake - B|``. WGAN-GP (Gulrajani et al. 2017, Algorithm 1):
``loss_D = mean(D(fake)) - mean(D(real)) + 10 * mean((|grad D(x_hat)|_2 - 1)^2)``, no 0.5.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from _engine_nets import TinyDiscriminator, TinyGenerator, make_cyclegan_parts, random_images
from monai.data import DataLoader

from medtranslate.engines import CycleGANTrainer, Pix2PixTrainer
from medtranslate.errors import ConfigError

TOL = {"rel": 1e-6, "abs": 1e-6}


def _mse(x: torch.Tensor, target: float) -> torch.Tensor:
    return torch.mean((x - target) ** 2)


def _l1(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.mean(torch.abs(x - y))


def _cyclegan(parts: dict, adversarial_loss: str, spatial: tuple = (12, 12), **kwargs) -> CycleGANTrainer:
    images = zip(random_images(1, 1, spatial, 0), random_images(1, 1, spatial, 1))
    data = [{"A": a, "B": b, "paired": True} for a, b in images]  # as PairedDataset flags its items
    return CycleGANTrainer(
        "cpu", 1, DataLoader(data, batch_size=1), **parts, adversarial_loss=adversarial_loss, **kwargs
    )


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_cyclegan_losses_equal_the_reference_formula(spatial_dims):
    parts = make_cyclegan_parts(spatial_dims, seed=5)
    g_ab, g_ba, d_a, d_b = (copy.deepcopy(parts[k]) for k in ("g_ab", "g_ba", "d_a", "d_b"))  # before any update
    trainer = _cyclegan(parts, "lsgan", spatial=(12, 12) if spatial_dims == 2 else (6, 8, 8))
    trainer.run()
    out = trainer.state.output
    a, b = out["real_A"], out["real_B"]
    lam = 10.0
    with torch.no_grad():
        fake_b, fake_a = g_ab(a), g_ba(b)
        rec_a, rec_b = g_ba(fake_b), g_ab(fake_a)
        terms = {
            "loss_adv_AB": _mse(d_b(fake_b), 1.0),
            "loss_adv_BA": _mse(d_a(fake_a), 1.0),
            "loss_cycle_A": lam * _l1(rec_a, a),
            "loss_cycle_B": lam * _l1(rec_b, b),
            "loss_idt_B": 0.5 * lam * _l1(g_ab(b), b),
            "loss_idt_A": 0.5 * lam * _l1(g_ba(a), a),
        }
        loss_g = sum(terms.values())
        # the pools hold nothing yet: the first query returns the current fakes
        loss_d_a = 0.5 * (_mse(d_a(a), 1.0) + _mse(d_a(fake_a), 0.0))
        loss_d_b = 0.5 * (_mse(d_b(b), 1.0) + _mse(d_b(fake_b), 0.0))
    torch.testing.assert_close(out["fake_B"], fake_b, rtol=1e-6, atol=1e-6)
    for name, value in terms.items():
        assert out[name] == pytest.approx(value.item(), **TOL), name
    assert out["loss_G"] == pytest.approx(loss_g.item(), **TOL)
    assert out["loss_D_A"] == pytest.approx(loss_d_a.item(), **TOL)
    assert out["loss_D_B"] == pytest.approx(loss_d_b.item(), **TOL)


def test_cyclegan_paired_term_is_l1_to_the_other_image_of_the_pair():
    parts = make_cyclegan_parts(2, seed=7)
    g_ab, g_ba = (copy.deepcopy(parts[k]) for k in ("g_ab", "g_ba"))
    plain = _cyclegan(copy.deepcopy(parts), "lsgan")
    plain.run()
    trainer = _cyclegan(parts, "lsgan", lambda_paired=3.0)
    trainer.run()
    out = trainer.state.output
    a, b = out["real_A"], out["real_B"]
    with torch.no_grad():
        pair_ab, pair_ba = 3.0 * _l1(g_ab(a), b), 3.0 * _l1(g_ba(b), a)
    assert out["loss_pair_AB"] == pytest.approx(pair_ab.item(), **TOL)
    assert out["loss_pair_BA"] == pytest.approx(pair_ba.item(), **TOL)
    assert "loss_pair_AB" not in plain.state.output  # off by default: the unpaired CycleGAN
    expected = plain.state.output["loss_G"] + (pair_ab + pair_ba).item()
    assert out["loss_G"] == pytest.approx(expected, rel=1e-5)


def test_cyclegan_paired_term_refuses_batches_that_cannot_be_pairs():
    parts = make_cyclegan_parts(2, seed=8)
    a, b = random_images(1, 1, (12, 12), 0)[0], random_images(1, 1, (16, 16), 1)[0]
    for item, message in (
        ({"A": a, "B": a.clone()}, "this loader gives unpaired images"),  # no flag: an unpaired loader
        ({"A": a, "B": b, "paired": True}, "registered pairs of one shape"),
    ):
        trainer = CycleGANTrainer(
            "cpu",
            1,
            DataLoader([item], batch_size=1),
            **copy.deepcopy(parts),
            adversarial_loss="lsgan",
            lambda_paired=1.0,
        )
        with pytest.raises(ConfigError, match=message):
            trainer.run()


def test_wgan_gp_critic_loss_equals_gulrajani_algorithm_1():
    parts = make_cyclegan_parts(2, seed=6)
    g_ab, g_ba, d_a, d_b = (copy.deepcopy(parts[k]) for k in ("g_ab", "g_ba", "d_a", "d_b"))
    trainer = _cyclegan(parts, "wgangp", pool_size=0)
    default_penalty, rng_states = trainer.gradient_penalty, []

    def recording_penalty(critic, real, fake):  # the default penalty; remember the RNG state its alpha is drawn from
        rng_states.append(torch.get_rng_state())
        return default_penalty(critic, real, fake)

    trainer.gradient_penalty = recording_penalty
    trainer.run()
    out = trainer.state.output
    a, b = out["real_A"], out["real_B"]
    with torch.no_grad():
        fake_b, fake_a = g_ab(a), g_ba(b)

    def by_hand(d, real, fake, rng_state):
        torch.set_rng_state(rng_state)
        alpha = torch.rand(real.shape[0], 1, 1, 1)
        x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(d(x_hat).sum(), x_hat)
        gp = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
        return (d(fake).mean() - d(real).mean() + 10.0 * gp).item()

    assert len(rng_states) == 2
    assert out["loss_D_A"] == pytest.approx(by_hand(d_a, a, fake_a, rng_states[0]), **TOL)
    assert out["loss_D_B"] == pytest.approx(by_hand(d_b, b, fake_b, rng_states[1]), **TOL)
    assert out["loss_adv_AB"] == pytest.approx(-d_b(fake_b).mean().item(), **TOL)


@pytest.mark.parametrize("conditional", [True, False])
def test_pix2pix_losses_equal_the_reference_formula(conditional):
    torch.manual_seed(2)
    a, b = random_images(1, 1, (12, 12), 0)[0][None], random_images(1, 3, (12, 12), 1)[0][None]
    gen = TinyGenerator(2, 1, 3)
    disc = TinyDiscriminator(2, 4 if conditional else 3)
    g0, d0 = copy.deepcopy(gen), copy.deepcopy(disc)
    # the discriminator is updated before the generator's loss is computed: lr 0 keeps it the network we copied
    trainer = Pix2PixTrainer(
        "cpu",
        1,
        DataLoader([{"A": a[0], "B": b[0]}], batch_size=1),
        gen,
        disc,
        torch.optim.Adam(gen.parameters(), 2e-4),
        torch.optim.SGD(disc.parameters(), lr=0.0),
        adversarial_loss="vanilla",
        conditional=conditional,
    )
    trainer.run()
    out = trainer.state.output

    def pair(x, y):
        return torch.cat((x, y), dim=1) if conditional else y

    with torch.no_grad():
        fake = g0(a)
        d_fake, d_real = d0(pair(a, fake)), d0(pair(a, b))
        loss_d = 0.5 * (
            F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
            + F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
        )
        loss_adv = F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
        loss_l1 = 100.0 * _l1(fake, b)
    assert out["loss_D"] == pytest.approx(loss_d.item(), **TOL)
    assert out["loss_adv"] == pytest.approx(loss_adv.item(), **TOL)
    assert out["loss_l1"] == pytest.approx(loss_l1.item(), **TOL)
    assert out["loss_G"] == pytest.approx((loss_adv + loss_l1).item(), **TOL)
