"""CycleGAN, pix2pix and supervised trainers: 2D and 3D steps, channel handling, AMP, accumulation, distillation."""

from __future__ import annotations

import copy

import pytest
import torch
from _engine_nets import TinyDiscriminator, TinyGenerator, lsgan, make_cyclegan_parts, random_images
from monai.data import DataLoader

from medtranslate.data.unpaired import UnpairedDataset
from medtranslate.engines import CycleGANTrainer, Pix2PixTrainer, ResumableSampler, ResumableSupervisedTrainer
from medtranslate.errors import ConfigError
from medtranslate.losses import IdentityLoss

SPATIAL = {2: (8, 8), 3: (6, 8, 8)}


def _loader(ch_a=1, ch_b=1, spatial=(8, 8), n=2, batch=1):
    ds = UnpairedDataset(random_images(n, ch_a, spatial, 0), random_images(n, ch_b, spatial, 1), seed=0)
    return DataLoader(ds, batch_size=batch, sampler=ResumableSampler(ds, shuffle=False))


def _params(*nets):
    return [p.detach().clone() for n in nets for p in n.parameters()]


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_cyclegan_step_updates_all_networks(spatial_dims):
    parts = make_cyclegan_parts(spatial_dims)
    nets = [parts[k] for k in ("g_ab", "g_ba", "d_a", "d_b")]
    before = _params(*nets)
    trainer = CycleGANTrainer(
        "cpu", 1, _loader(spatial=SPATIAL[spatial_dims]), **parts, adversarial_loss=lsgan, lambda_gradient=0.1
    )
    trainer.run()
    out = trainer.state.output
    expected = {"loss_G", "loss_adv_AB", "loss_adv_BA", "loss_cycle_A", "loss_cycle_B", "loss_idt_A", "loss_idt_B"}
    assert expected | {"loss_grad_AB", "loss_grad_BA", "loss_D_A", "loss_D_B"} <= set(out)
    assert out["loss_G"] == pytest.approx(sum(v for k, v in out.items() if k.startswith("loss_") and k[5] not in "DG"))
    assert out["fake_B"].shape == (1, 1, *SPATIAL[spatial_dims]) and not out["fake_B"].requires_grad
    after = _params(*nets)
    assert all(not torch.equal(a, b) for a, b in zip(before, after) if a.numel() > 1)
    assert all(p.requires_grad for n in nets for p in n.parameters())


def test_grayscale_to_rgb_identity_needs_a_channel_policy():
    parts = make_cyclegan_parts(2, ch_a=1, ch_b=3)
    loader = _loader(ch_a=1, ch_b=3)
    with pytest.raises(ConfigError, match="channel"):
        CycleGANTrainer("cpu", 1, loader, **copy.deepcopy(parts), adversarial_loss=lsgan).run()
    for kwargs in ({"identity_loss": IdentityLoss("luminance")}, {"lambda_identity": 0.0}):
        trainer = CycleGANTrainer("cpu", 1, loader, **copy.deepcopy(parts), adversarial_loss=lsgan, **kwargs)
        trainer.run()
        assert trainer.state.output["fake_B"].shape[1] == 3
        assert ("loss_idt_A" in trainer.state.output) == ("identity_loss" in kwargs)


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_cyclegan_amp_on_cpu(amp):
    losses = {}
    for mode in (None, amp):  # the same two iterations in float32 and under autocast
        trainer = CycleGANTrainer(
            "cpu", 1, _loader(), **make_cyclegan_parts(2), adversarial_loss="lsgan", amp=mode, channels_last=True
        )
        trainer.run()
        losses[mode] = {k: v for k, v in trainer.state.output.items() if k.startswith("loss")}
    assert set(losses[amp]) == set(losses[None]) and len(losses[None]) == 9
    for name, value in losses[None].items():  # measured: within 3e-3 (fp16) and 5e-4 (bf16) of float32
        assert losses[amp][name] == pytest.approx(value, rel=2e-2), name
    assert (trainer.grad_scaler is not None) == (amp == "fp16")
    assert ("grad_scaler" in trainer.checkpoint_objects()) == (amp == "fp16")


def test_bad_amp_and_accumulation_options():
    with pytest.raises(ConfigError, match="amp"):
        CycleGANTrainer("cpu", 1, _loader(), **make_cyclegan_parts(2), adversarial_loss=lsgan, amp="fp8")
    with pytest.raises(ConfigError, match="accumulation_steps"):
        CycleGANTrainer("cpu", 1, _loader(), **make_cyclegan_parts(2), adversarial_loss=lsgan, accumulation_steps=0)
    with pytest.raises(ConfigError, match="adversarial_loss"):
        CycleGANTrainer("cpu", 1, _loader(), **make_cyclegan_parts(2), adversarial_loss="nonsense")


def test_accumulation_matches_the_larger_batch():
    results = []
    for batch, acc in ((2, 1), (1, 2)):
        parts = make_cyclegan_parts(2, seed=3)
        # SGD: Adam would turn the ~1e-9 rounding noise of gradients that are 0 in theory (conv bias before instance
        # norm) into full +-lr steps
        g_params = list(parts["g_ab"].parameters()) + list(parts["g_ba"].parameters())
        parts["g_optimizer"] = torch.optim.SGD(g_params, lr=0.1)
        parts["d_optimizer"] = torch.optim.SGD(list(parts["d_a"].parameters()) + list(parts["d_b"].parameters()), 0.1)
        trainer = CycleGANTrainer(
            "cpu", 1, _loader(batch=batch), **parts, adversarial_loss=lsgan, pool_size=0, accumulation_steps=acc
        )
        trainer.run()
        results.append(_params(parts["g_ab"], parts["g_ba"], parts["d_a"], parts["d_b"]))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_wgangp_mode_adds_the_gradient_penalty():
    parts = make_cyclegan_parts(2, seed=6)
    g_ba, d_a = copy.deepcopy(parts["g_ba"]), copy.deepcopy(parts["d_a"])
    trainer = CycleGANTrainer("cpu", 1, _loader(n=1), **parts, adversarial_loss="wgangp", pool_size=0)
    default_penalty, penalties = trainer.gradient_penalty, []
    assert default_penalty is not None and trainer.d_loss_weight == 1.0

    def recording_penalty(critic, real, fake):
        penalties.append(default_penalty(critic, real, fake).item())
        return penalties[-1]

    trainer.gradient_penalty = recording_penalty
    trainer.run()
    out = trainer.state.output
    with (
        torch.no_grad()
    ):  # Gulrajani et al.: D(fake) - D(real) + GP, no 0.5 (the GP itself: test_engine_reference_losses)
        wasserstein = d_a(g_ba(out["real_B"])).mean() - d_a(out["real_A"]).mean()
    assert len(penalties) == 2 and penalties[0] > 0
    assert out["loss_D_A"] == pytest.approx(wasserstein.item() + penalties[0], rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("conditional", [True, False])
def test_pix2pix_step(spatial_dims, conditional):
    torch.manual_seed(0)
    spatial = SPATIAL[spatial_dims]
    data = [{"A": a, "B": b} for a, b in zip(random_images(2, 1, spatial, 0), random_images(2, 3, spatial, 1))]
    gen = TinyGenerator(spatial_dims, 1, 3)
    disc = TinyDiscriminator(spatial_dims, 4 if conditional else 3)
    g_opt, d_opt = torch.optim.Adam(gen.parameters(), 2e-4), torch.optim.Adam(disc.parameters(), 2e-4)
    before = _params(gen, disc)
    trainer = Pix2PixTrainer(
        "cpu",
        1,
        DataLoader(data, batch_size=2),
        gen,
        disc,
        g_opt,
        d_opt,
        adversarial_loss="vanilla",
        conditional=conditional,
    )
    trainer.run()
    out = trainer.state.output
    assert out["loss_G"] == pytest.approx(out["loss_adv"] + out["loss_l1"])
    # fake_B is the output before the generator's update, the one loss_l1 was computed on
    assert out["loss_l1"] == pytest.approx(
        100 * torch.nn.functional.l1_loss(out["fake_B"], out["real_B"]).item(), rel=1e-6
    )
    assert all(not torch.equal(a, b) for a, b in zip(before, _params(gen, disc)) if a.numel() > 1)


def test_supervised_trainer_plain_tuple_and_teacher():
    torch.manual_seed(0)
    data = [
        {"image": a, "label": b, "teacher_in": a * 2}
        for a, b in zip(random_images(4, 1, (8, 8), 0), random_images(4, 1, (8, 8), 1))
    ]
    loader = DataLoader(data, batch_size=2)
    net = TinyGenerator(2, 1, 1)
    trainer = ResumableSupervisedTrainer("cpu", 1, loader, net, torch.optim.Adam(net.parameters()), torch.nn.L1Loss())
    trainer.run()
    assert set(trainer.state.output) >= {"image", "label", "pred", "loss"} and trainer.state.iteration == 2

    class TupleNet(torch.nn.Module):  # VAE-like: (reconstruction, mu, logvar)
        def __init__(self):
            super().__init__()
            self.g = TinyGenerator(2, 1, 1)

        def forward(self, x):
            return self.g(x), x.mean(), x.var()

    seen = {}

    def vae_like(pred, target, teacher_pred):
        seen["teacher"] = teacher_pred
        return torch.nn.functional.l1_loss(pred[0], target) + 0.0 * pred[1] + (pred[0] - teacher_pred).pow(2).mean()

    teacher = TinyGenerator(2, 1, 1)
    student = TupleNet()
    trainer = ResumableSupervisedTrainer(
        "cpu",
        1,
        loader,
        student,
        torch.optim.Adam(student.parameters()),
        vae_like,
        teacher=teacher,
        teacher_key="teacher_in",
        amp="bf16",
    )
    trainer.run()
    assert isinstance(trainer.state.output["pred"], tuple)
    assert not any(p.requires_grad for p in teacher.parameters()) and not seen["teacher"].requires_grad
    assert "teacher" not in str(list(trainer.checkpoint_objects()))
