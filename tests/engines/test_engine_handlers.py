"""Logging and validation handlers: loss plot, samples, TensorBoard, progress bar, validation, patch schedule."""

from __future__ import annotations

import pytest
import torch
from _engine_nets import TinyDiscriminator, TinyGenerator, lsgan, make_cyclegan_parts, random_images
from ignite.engine import Events
from monai.data import DataLoader
from PIL import Image

from medtranslate.data.unpaired import UnpairedDataset
from medtranslate.engines import (
    CycleGANTrainer,
    LossPlotHandler,
    Pix2PixTrainer,
    ProgressHandler,
    ProgressivePatchSize,
    SampleSaver,
    TensorBoardLossHandler,
    TranslationValidationHandler,
)
from medtranslate.engines.handlers.samples import to_display
from medtranslate.errors import ConfigError

SPATIAL = {2: (12, 12), 3: (6, 12, 12)}


def _cyclegan(spatial_dims, handlers, ch_b=1, max_epochs=1, **kwargs):
    sp = SPATIAL[spatial_dims]
    ds = UnpairedDataset(random_images(4, 1, sp, 0), random_images(4, ch_b, sp, 1))
    parts = make_cyclegan_parts(spatial_dims, ch_b=ch_b)
    return CycleGANTrainer(
        "cpu",
        max_epochs,
        DataLoader(ds, batch_size=2),
        **parts,
        adversarial_loss=lsgan,
        lambda_identity=0.0,
        train_handlers=handlers,
        **kwargs,
    )


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_logging_handlers_write_their_files(tmp_path, spatial_dims):
    handlers = [
        LossPlotHandler(tmp_path / "plots" / "loss.png", interval=1),
        SampleSaver(tmp_path / "samples", interval=2),
        TensorBoardLossHandler(tmp_path / "tb"),
        ProgressHandler(),
    ]
    _cyclegan(spatial_dims, handlers, ch_b=3).run()
    assert Image.open(tmp_path / "plots" / "loss.png").size[0] > 100
    grid = Image.open(tmp_path / "samples" / "samples_00000002.png")
    h, w = SPATIAL[spatial_dims][-2:]
    assert grid.size == (3 * w + 4, 2 * h + 2) and grid.mode == "RGB"  # 2 rows (A, B) x 3 columns
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    assert not [p for p in tmp_path.rglob("*") if ".mt-tmp" in p.name]


def test_to_display_middle_slice_and_channels():
    vol = torch.zeros(1, 5, 4, 4)
    vol[:, 2] = 1.0
    assert (to_display(vol) == 255).all()
    rgb = torch.stack([torch.full((4, 4), -1.0), torch.zeros(4, 4), torch.ones(4, 4)])
    assert to_display(rgb)[0, 0].tolist() == [0, 128, 255]


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_cycle_validation_keeps_best_checkpoint(tmp_path, spatial_dims):
    sp = SPATIAL[spatial_dims]
    val = DataLoader(
        [{"A": a, "B": b} for a, b in zip(random_images(2, 1, sp, 5), random_images(2, 1, sp, 6))], batch_size=2
    )
    handler = TranslationValidationHandler(val, save_dir=tmp_path)
    trainer = _cyclegan(spatial_dims, [handler], max_epochs=2)
    trainer.run()
    m = trainer.state.metrics
    assert set(m) >= {"val_cycle_ssim", "val_cycle_ssim_A", "val_cycle_ssim_B", "val_cycle_psnr"}
    assert -1.0 <= m["val_cycle_ssim"] <= 1.0 and m["val_cycle_psnr"] > 0
    assert handler.best == max(handler.best, m["val_cycle_ssim"]) and handler.best_epoch in (1, 2)
    ckpt = torch.load(tmp_path / "best.pt", weights_only=True)
    assert ckpt["validation"]["best"] == pytest.approx(handler.best) and ckpt["meta"]["epoch"] == handler.best_epoch
    assert trainer.g_ab.training  # back in training mode


def test_pix2pix_validation_metrics():
    data = [{"A": a, "B": b} for a, b in zip(random_images(2, 1, (12, 12), 0), random_images(2, 1, (12, 12), 1))]
    gen, disc = TinyGenerator(2, 1, 1), TinyDiscriminator(2, 2)
    trainer = Pix2PixTrainer(
        "cpu",
        1,
        DataLoader(data, batch_size=2),
        gen,
        disc,
        torch.optim.Adam(gen.parameters()),
        torch.optim.Adam(disc.parameters()),
        adversarial_loss=lsgan,
        train_handlers=[TranslationValidationHandler(DataLoader(data, batch_size=1))],
    )
    trainer.run()
    assert {"val_ssim", "val_psnr"} <= set(trainer.state.metrics)


def test_progressive_patch_size_changes_with_epoch():
    schedule = ProgressivePatchSize({"1": [8, 8], "2": [12, 12]})
    trainer = _cyclegan(2, [schedule], max_epochs=2)
    shapes = []
    trainer.add_event_handler(
        Events.ITERATION_COMPLETED, lambda e: shapes.append(tuple(e.state.output["real_A"].shape))
    )
    trainer.run()
    assert shapes == [(2, 1, 8, 8)] * 2 + [(2, 1, 12, 12)] * 2
    assert trainer.state.patch_size == (12, 12)
    with pytest.raises(ConfigError, match="start at epoch 1"):
        ProgressivePatchSize({3: [8, 8]})
    with pytest.raises(ConfigError, match="set_patch_size"):
        data = [{"A": a, "B": a} for a in random_images(2, 1, (8, 8), 0)]
        parts = make_cyclegan_parts(2)
        CycleGANTrainer("cpu", 1, DataLoader(data), **parts, adversarial_loss=lsgan, train_handlers=[schedule])
