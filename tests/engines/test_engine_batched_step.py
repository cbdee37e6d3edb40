"""The batched CycleGAN step (shared-weight calls in one forward, one cycle back-propagated at a time) is exact."""

from __future__ import annotations

import copy

import pytest
import torch
from _engine_nets import TinyGenerator, lsgan, make_cyclegan_parts, random_images
from monai.data import DataLoader

from medtranslate.data.paired import PairedDataset
from medtranslate.data.unpaired import UnpairedDataset
from medtranslate.engines import CycleGANTrainer, ResumableSampler
from medtranslate.losses import IdentityLoss

SPATIAL = {2: (8, 8), 3: (6, 8, 8)}


def _loader(ch_a, ch_b, spatial, batch, paired=False):
    images_a, images_b = random_images(2 * batch, ch_a, spatial, 0), random_images(2 * batch, ch_b, spatial, 1)
    if paired:
        ds = PairedDataset([{"a": a, "b": b} for a, b in zip(images_a, images_b)], seed=0)
    else:
        ds = UnpairedDataset(images_a, images_b, seed=0)
    return DataLoader(ds, batch_size=batch, sampler=ResumableSampler(ds, shuffle=False))


def _one_step(parts, batched, loader, **kwargs):
    parts = copy.deepcopy(parts)
    trainer = CycleGANTrainer(
        "cpu", 1, loader, **parts, adversarial_loss=lsgan, batch_networks=batched, epoch_length=1, **kwargs
    )
    trainer.run()
    grads = {
        k: [p.grad.clone() for p in parts[k].parameters()] for k in ("g_ab", "g_ba", "d_a", "d_b")
    }  # lr 0: the gradients of the one step, taken at the same weights
    return trainer.state.output, grads


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize(
    "ch_a, ch_b, kwargs",
    [
        (1, 1, {"lambda_gradient": 0.1}),
        (1, 3, {"identity_loss": IdentityLoss("luminance")}),
        (2, 2, {"lambda_identity": 0.0}),
        (1, 1, {"lambda_paired": 5.0}),
    ],
)
def test_batched_step_equals_the_reference_order(spatial_dims, ch_a, ch_b, kwargs):
    parts = make_cyclegan_parts(spatial_dims, ch_a=ch_a, ch_b=ch_b, lr=0.0)
    loader = _loader(ch_a, ch_b, SPATIAL[spatial_dims], batch=2, paired="lambda_paired" in kwargs)
    out_ref, grads_ref = _one_step(parts, False, loader, **kwargs)
    out_bat, grads_bat = _one_step(parts, True, loader, **kwargs)
    losses = [k for k in out_ref if k.startswith("loss_")]
    assert losses == [k for k in out_bat if k.startswith("loss_")]
    for k in losses:
        assert out_bat[k] == pytest.approx(out_ref[k], rel=1e-5, abs=1e-7), k
    for k in ("fake_A", "fake_B", "rec_A", "rec_B"):
        torch.testing.assert_close(out_bat[k], out_ref[k], rtol=1e-5, atol=1e-6)
    for name in grads_ref:
        for g_ref, g_bat in zip(grads_ref[name], grads_bat[name]):
            torch.testing.assert_close(g_bat, g_ref, rtol=1e-4, atol=1e-6, msg=name)
    assert any(g.abs().sum() > 0 for gs in grads_ref.values() for g in gs)


def test_batched_step_is_the_default_only_where_exact():
    parts = make_cyclegan_parts(2)
    loader = _loader(1, 1, (8, 8), batch=1)
    trainer = CycleGANTrainer("cpu", 1, loader, **copy.deepcopy(parts), adversarial_loss=lsgan)
    assert trainer.batch_generators and trainer.batch_discriminators
    bn = copy.deepcopy(parts)
    bn["g_ab"] = torch.nn.Sequential(TinyGenerator(2, 1, 1), torch.nn.BatchNorm2d(1))
    trainer = CycleGANTrainer("cpu", 1, loader, **bn, adversarial_loss=lsgan)
    assert not trainer.batch_generators and trainer.batch_discriminators
    trainer = CycleGANTrainer("cpu", 1, loader, **copy.deepcopy(parts), adversarial_loss=lsgan, batch_networks=False)
    assert not trainer.batch_generators and not trainer.batch_discriminators
