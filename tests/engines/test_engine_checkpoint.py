"""Checkpoint contents, pruning, atomic writes, weights_only loading, MONAI CheckpointLoader interop, bad inputs."""

from __future__ import annotations

import pytest
import torch
from _engine_nets import TinyGenerator, lsgan, make_cyclegan_parts, random_images
from ignite.engine import Events
from monai.data import DataLoader
from monai.handlers import CheckpointLoader

from medtranslate.data.unpaired import UnpairedDataset
from medtranslate.engines import (
    CheckpointHandler,
    CycleGANTrainer,
    LinearDecayLR,
    ResumableSampler,
    list_checkpoints,
    load_checkpoint,
    load_network,
    resolve_checkpoint,
)
from medtranslate.errors import InputError


def _trainer(tmp_path, max_epochs=2, n_items=4, handlers=(), **kwargs):
    ds = UnpairedDataset(random_images(n_items, 1, (8, 8), 0), random_images(3, 1, (8, 8), 1))
    parts = make_cyclegan_parts(2)
    scheds = [LinearDecayLR(parts["g_optimizer"], 1, 1), LinearDecayLR(parts["d_optimizer"], 1, 1)]
    loader = DataLoader(ds, batch_size=2, sampler=ResumableSampler(ds))
    return CycleGANTrainer(
        "cpu",
        max_epochs,
        loader,
        **parts,
        adversarial_loss=lsgan,
        pool_size=2,
        schedulers=scheds,
        train_handlers=list(handlers),
        **kwargs,
    )


def test_contents_pruning_and_no_temporary_files(tmp_path):
    trainer = _trainer(tmp_path, handlers=[CheckpointHandler(tmp_path, save_interval=1, n_saved=2)])
    trainer.run()
    assert [it for it, _ in list_checkpoints(tmp_path)] == [3, 4]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint_00000003.pt", "checkpoint_00000004.pt"]
    ckpt = torch.load(resolve_checkpoint(tmp_path), weights_only=True)
    expected = {
        "trainer",
        "rng",
        "pending_grads",
        "g_ab",
        "g_ba",
        "d_a",
        "d_b",
        "g_optimizer",
        "d_optimizer",
        "scheduler_0",
        "scheduler_1",
        "pool_a",
        "pool_b",
        "meta",
    }
    assert set(ckpt) == expected
    assert ckpt["trainer"]["iteration"] == 4 and ckpt["meta"]["epoch"] == 2
    assert set(ckpt["rng"]) == {"python", "numpy", "torch", "cuda"}
    assert len(ckpt["pool_a"]["images"]) == 2 and ckpt["scheduler_0"]["last_epoch"] == 1
    assert not any(k.startswith("module.") for k in ckpt["g_ab"])


@pytest.mark.parametrize("resume", [False, True])
def test_stale_temporaries_of_a_killed_write_are_removed_at_start(tmp_path, resume):
    # what a SIGKILL during atomic_save_torch leaves: the half-written temporary under atomic_path's name
    if resume:
        _trainer(tmp_path, max_epochs=1, handlers=[CheckpointHandler(tmp_path)]).run()
    stale = [tmp_path / ".checkpoint_00000004.k1l2e3d4.mt-tmp.pt", tmp_path / ".best.a1b2c3d4.mt-tmp.pt"]
    for p in stale:
        p.write_bytes(b"half a checkpoint")
    keep = [tmp_path / "notes.mt-tmp.txt", tmp_path / ".hidden.pt"]  # not atomic_path temporaries
    for p in keep:
        p.write_bytes(b"x")
    trainer = _trainer(tmp_path, max_epochs=2, handlers=[CheckpointHandler(tmp_path)], resume_from=str(tmp_path))
    started = []
    trainer.add_event_handler(Events.ITERATION_STARTED, lambda e: started.append(any(p.exists() for p in stale)))
    trainer.run()
    assert started[0] is False  # gone before the first iteration
    assert [p for p in keep if p.exists()] == keep
    assert torch.load(tmp_path / "checkpoint_00000004.pt", weights_only=True)["meta"]["iteration"] == 4
    assert len(started) == (2 if resume else 4)  # a resumed run continued after iteration 2


def test_monai_checkpoint_loader_restores_a_trainer(tmp_path):
    first = _trainer(tmp_path, max_epochs=1, handlers=[CheckpointHandler(tmp_path, save_final=True)])
    first.run()
    path = resolve_checkpoint(tmp_path)
    second = _trainer(tmp_path, max_epochs=2)
    CheckpointLoader(str(path), second.checkpoint_objects()).attach(second)
    seen = []
    second.add_event_handler(Events.ITERATION_STARTED, lambda e: seen.append(e.state.iteration))
    second.run()
    assert seen == [3, 4]  # continued after the 2 iterations of the first run
    net = load_network(TinyGenerator(2, 1, 1), path, "g_ab")
    for a, b in zip(net.parameters(), first.g_ab.parameters()):
        assert torch.equal(a, b)


def test_resume_from_an_empty_folder_starts_fresh(tmp_path):
    trainer = _trainer(tmp_path, max_epochs=1, resume_from=str(tmp_path / "none_yet"))
    trainer.run()
    assert trainer.state.iteration == 2


def test_bad_checkpoints_are_reported(tmp_path):
    trainer = _trainer(tmp_path, max_epochs=1, handlers=[CheckpointHandler(tmp_path / "a", save_final=True)])
    trainer.run()
    good = resolve_checkpoint(tmp_path / "a")
    with pytest.raises(InputError, match="checkpoint not found"):
        load_checkpoint(_trainer(tmp_path), tmp_path / "missing.pt")
    with pytest.raises(InputError, match="no checkpoint in this folder"):
        load_checkpoint(_trainer(tmp_path), tmp_path / "empty")
    broken = tmp_path / "broken.pt"
    broken.write_bytes(good.read_bytes()[:100])
    with pytest.raises(InputError, match="cannot read the checkpoint"):
        load_checkpoint(_trainer(tmp_path), broken)
    with pytest.raises(InputError, match="iterations per epoch"):
        load_checkpoint(_trainer(tmp_path, n_items=6), good)
    ckpt = torch.load(good, weights_only=True)
    del ckpt["pool_a"]
    torch.save(ckpt, tmp_path / "partial.pt")
    with pytest.raises(InputError, match="missing pool_a"):
        load_checkpoint(_trainer(tmp_path), tmp_path / "partial.pt")
    with pytest.raises(InputError, match="no network 'generator'"):
        load_network(TinyGenerator(2, 1, 1), good, "generator")
    with pytest.raises(InputError, match="do not fit"):
        load_network(TinyGenerator(2, 1, 3), good, "g_ab")
