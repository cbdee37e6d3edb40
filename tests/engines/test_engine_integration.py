"""The trainers with medtranslate's own networks and losses (ResNet/U-Net generators, PatchGAN, AdversarialLoss)."""

from __future__ import annotations

import itertools

import pytest
import torch
from _engine_nets import random_images
from monai.data import DataLoader

from medtranslate.data.unpaired import UnpairedDataset
from medtranslate.engines import CheckpointHandler, CycleGANTrainer, LinearDecayLR, Pix2PixTrainer, ResumableSampler
from medtranslate.losses import CycleLoss, GradientLoss, IdentityLoss
from medtranslate.networks import PatchDiscriminator, ResNetGenerator, UNetGenerator, init_weights


@pytest.mark.parametrize(("spatial_dims", "spatial"), [(2, (16, 16)), (3, (8, 16, 16))])
def test_cyclegan_with_project_networks_gray_to_rgb(tmp_path, spatial_dims, spatial):
    torch.manual_seed(0)

    def gen(cin, cout):
        return init_weights(ResNetGenerator(spatial_dims, cin, cout, channels=4, num_downsamplings=1, num_res_blocks=1))

    def disc(cin):
        return init_weights(PatchDiscriminator(spatial_dims, cin, channels=4, num_layers=1))

    g_ab, g_ba, d_a, d_b = gen(1, 3), gen(3, 1), disc(1), disc(3)
    g_opt = torch.optim.Adam(itertools.chain(g_ab.parameters(), g_ba.parameters()), lr=2e-4, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(itertools.chain(d_a.parameters(), d_b.parameters()), lr=2e-4, betas=(0.5, 0.999))
    ds = UnpairedDataset(random_images(3, 1, spatial, 0), random_images(2, 3, spatial, 1), patch_size=spatial)
    loader = DataLoader(ds, batch_size=1, sampler=ResumableSampler(ds))
    trainer = CycleGANTrainer(
        "cpu",
        1,
        loader,
        g_ab,
        g_ba,
        d_a,
        d_b,
        g_opt,
        d_opt,
        adversarial_loss="vanilla",  # seed 000: BCE on logits
        cycle_loss=CycleLoss(spatial_dims=spatial_dims),
        identity_loss=IdentityLoss("luminance"),
        gradient_loss=GradientLoss(spatial_dims),
        lambda_gradient=0.1,
        schedulers=[LinearDecayLR(g_opt, 1, 1), LinearDecayLR(d_opt, 1, 1)],
        amp="bf16",
        train_handlers=[CheckpointHandler(tmp_path, save_final=True)],
    )
    trainer.run()
    out = trainer.state.output
    assert out["fake_B"].shape == (1, 3, *spatial) and out["fake_A"].shape == (1, 1, *spatial)
    terms = {k: v for k, v in out.items() if k.startswith("loss_") and k not in ("loss_G", "loss_D_A", "loss_D_B")}
    assert len(terms) == 8 and out["loss_G"] == pytest.approx(sum(terms.values()), rel=1e-5)
    # the cycle and gradient terms, recomputed in float32 from the images of the last iteration (bf16 step)
    f32 = {k: out[k].float() for k in ("real_A", "fake_B", "rec_A", "real_B", "fake_A", "rec_B")}
    assert out["loss_cycle_A"] == pytest.approx(10 * (f32["rec_A"] - f32["real_A"]).abs().mean().item(), rel=1e-3)
    assert out["loss_cycle_B"] == pytest.approx(10 * (f32["rec_B"] - f32["real_B"]).abs().mean().item(), rel=1e-3)
    grad = GradientLoss(spatial_dims)
    assert out["loss_grad_AB"] == pytest.approx(0.1 * grad(f32["fake_B"], f32["real_A"]).item(), rel=1e-2)
    assert out["loss_grad_BA"] == pytest.approx(0.1 * grad(f32["fake_A"], f32["real_B"]).item(), rel=1e-2)
    # BCE discriminators three small steps from their initialisation: near log(2) = 0.693 (chance)
    assert 0.55 < out["loss_D_A"] < 0.85 and 0.55 < out["loss_D_B"] < 0.85, (out["loss_D_A"], out["loss_D_B"])
    assert (tmp_path / "checkpoint_00000003.pt").is_file()


def test_pix2pix_with_unet_and_conditional_patchgan():
    torch.manual_seed(0)
    gen = UNetGenerator(2, 1, 3, channels=4, num_downs=3)
    disc = PatchDiscriminator(2, 4, channels=4, num_layers=2)
    data = [{"A": a, "B": b} for a, b in zip(random_images(2, 1, (32, 32), 0), random_images(2, 3, (32, 32), 1))]
    trainer = Pix2PixTrainer(
        "cpu",
        1,
        DataLoader(data, batch_size=2),
        gen,
        disc,
        torch.optim.Adam(gen.parameters(), 2e-4, (0.5, 0.999)),
        torch.optim.Adam(disc.parameters(), 2e-4, (0.5, 0.999)),
        adversarial_loss="vanilla",
        lambda_l1=100.0,
    )
    trainer.run()
    assert trainer.state.output["fake_B"].shape == (2, 3, 32, 32)
