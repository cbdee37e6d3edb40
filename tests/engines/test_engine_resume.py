"""Exact resume: a run stopped after iteration k and resumed gives bit-identical losses and weights."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from _engine_nets import TinyDiscriminator, TinyGenerator, lsgan, make_cyclegan_parts, random_images
from ignite.engine import Events
from monai.data import DataLoader
from monai.transforms import RandFlip

from medtranslate.data.unpaired import UnpairedDataset
from medtranslate.engines import (
    CheckpointHandler,
    CycleGANTrainer,
    LinearDecayLR,
    LossPlotHandler,
    Pix2PixTrainer,
    ResumableSampler,
    ResumableSupervisedTrainer,
)

MAX_EPOCHS = 3  # 3 iterations per epoch (5 items, batch 2): 9 iterations


def _noisy_handler(engine):
    # a handler that draws from every global generator between steps: the isolated stream must not care
    torch.rand(3)
    random.random()
    np.random.rand()


def _build(kind, tmp_path, resume_from=None, init_seed=0):
    ckpt_dir = tmp_path / "ckpt"
    handlers = [CheckpointHandler(ckpt_dir, save_interval=1, n_saved=None), LossPlotHandler(tmp_path / "loss.png")]
    if kind == "cyclegan":
        ds = UnpairedDataset(
            random_images(5, 1, (12, 12), 0),
            random_images(4, 1, (12, 12), 1),
            random_transform_a=RandFlip(prob=0.5, spatial_axis=0),
            patch_size=(8, 8),
            seed=3,
        )
        parts = make_cyclegan_parts(2, dropout=0.2, seed=init_seed)
        scheds = [LinearDecayLR(parts["g_optimizer"], 1, 2), LinearDecayLR(parts["d_optimizer"], 1, 2)]
        loader = DataLoader(ds, batch_size=2, sampler=ResumableSampler(ds, seed=1))
        return CycleGANTrainer(
            "cpu",
            MAX_EPOCHS,
            loader,
            **parts,
            adversarial_loss=lsgan,
            pool_size=3,
            schedulers=scheds,
            train_handlers=handlers,
            resume_from=resume_from,
        )
    torch.manual_seed(init_seed)
    if kind == "pix2pix":
        data = [{"A": a, "B": b} for a, b in zip(random_images(5, 1, (8, 8), 0), random_images(5, 1, (8, 8), 1))]
        gen, disc = TinyGenerator(2, 1, 1, dropout=0.2), TinyDiscriminator(2, 2)
        g_opt, d_opt = torch.optim.Adam(gen.parameters(), 2e-4), torch.optim.Adam(disc.parameters(), 2e-4)
        loader = DataLoader(data, batch_size=2, sampler=ResumableSampler(data, seed=1))
        return Pix2PixTrainer(
            "cpu",
            MAX_EPOCHS,
            loader,
            gen,
            disc,
            g_opt,
            d_opt,
            adversarial_loss=lsgan,
            pool_size=2,
            schedulers=[LinearDecayLR(g_opt, 1, 2)],
            train_handlers=handlers,
            resume_from=resume_from,
        )
    data = [{"image": a, "label": b} for a, b in zip(random_images(5, 1, (8, 8), 0), random_images(5, 1, (8, 8), 1))]
    net = TinyGenerator(2, 1, 1, dropout=0.2)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    loader = DataLoader(data, batch_size=2, sampler=ResumableSampler(data, seed=1))
    return ResumableSupervisedTrainer(
        "cpu",
        MAX_EPOCHS,
        loader,
        net,
        opt,
        torch.nn.L1Loss(),
        accumulation_steps=2,
        schedulers=[LinearDecayLR(opt, 1, 2)],
        train_handlers=handlers,
        resume_from=resume_from,
    )


def _run(trainer, stop_at=None):
    losses = {}

    def record(engine):
        losses[engine.state.iteration] = {k: v for k, v in engine.state.output.items() if k.startswith("loss")}
        if engine.state.iteration == stop_at:
            engine.terminate()

    trainer.add_event_handler(Events.ITERATION_COMPLETED, record)
    trainer.add_event_handler(Events.ITERATION_COMPLETED, _noisy_handler)
    trainer.run()
    return losses


@pytest.mark.parametrize(("kind", "k"), [("cyclegan", 4), ("cyclegan", 3), ("pix2pix", 5), ("supervised", 4)])
def test_stop_and_resume_matches_uninterrupted_run(tmp_path, kind, k):
    full = _run(_build(kind, tmp_path / "full"))
    assert sorted(full) == list(range(1, 10))

    first = _run(_build(kind, tmp_path / "split"), stop_at=k)
    assert sorted(first) == list(range(1, k + 1))
    # the resumed process starts from other weights and another global RNG state: the checkpoint must restore all
    torch.manual_seed(1234)
    resumed_trainer = _build(kind, tmp_path / "split", resume_from=str(tmp_path / "split" / "ckpt"), init_seed=7)
    second = _run(resumed_trainer)
    assert sorted(second) == list(range(k + 1, 10))

    for it in range(1, 10):
        got = first[it] if it <= k else second[it]
        assert got == full[it], f"iteration {it} differs after resuming at {k}"  # bit-identical floats

    # the loss history continued seamlessly and the plot was written
    plot = resumed_trainer.checkpoint_objects()["loss_plot"]
    assert plot.iterations == list(range(1, 10))
    assert (tmp_path / "split" / "loss.png").stat().st_size > 0
