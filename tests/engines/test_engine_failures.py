"""NaN/Inf losses stop with a clear message and leave the last good checkpoint intact; OOM names patch and batch."""

from __future__ import annotations

import hashlib

import pytest
import torch
from _engine_nets import TinyGenerator, lsgan, make_cyclegan_parts, random_images
from monai.data import DataLoader
from monai.engines import SupervisedTrainer

from medtranslate.data.unpaired import UnpairedDataset
from medtranslate.engines import CheckpointHandler, CycleGANTrainer, NanGuard, TrainingError, save_checkpoint


class BreaksAfter(torch.nn.Module):
    """Wraps a network; from call ``n`` on it returns NaN or raises an out-of-memory error."""

    def __init__(self, net, n, failure="nan"):
        super().__init__()
        self.net, self.n, self.failure, self.calls = net, n, failure, 0

    def forward(self, x):
        self.calls += 1
        y = self.net(x)
        if self.calls > self.n:
            if self.failure == "oom":
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
            return y * float("nan")
        return y


def _trainer(tmp_path, failure, n_calls):
    ds = UnpairedDataset(random_images(4, 1, (8, 8), 0), random_images(4, 1, (8, 8), 1))
    parts = make_cyclegan_parts(2)
    parts["g_ab"] = BreaksAfter(parts["g_ab"], n_calls, failure)
    handlers = [CheckpointHandler(tmp_path, save_interval=1, n_saved=5)]
    return CycleGANTrainer(
        "cpu", 2, DataLoader(ds, batch_size=2), **parts, adversarial_loss=lsgan, train_handlers=handlers
    )


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    # g_ab runs twice per iteration in the batched step (fake_B with its identity image, rec_B): NaN from iteration 3
    trainer = _trainer(tmp_path, "nan", n_calls=4)
    digests = {}
    from ignite.engine import Events

    trainer.add_event_handler(
        Events.ITERATION_COMPLETED, lambda e: digests.update({p.name: _digest(p) for p in tmp_path.glob("*.pt")})
    )
    with pytest.raises(TrainingError) as info:
        trainer.run()
    msg = str(info.value)
    assert "\n" not in msg and "non-finite loss" in msg and "iteration 3" in msg and "loss_G=nan" in msg
    last = tmp_path / "checkpoint_00000002.pt"
    assert str(last) in msg and "intact" in msg
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint_00000001.pt", "checkpoint_00000002.pt"]
    assert _digest(last) == digests[last.name]  # untouched since it was written
    ckpt = torch.load(last, weights_only=True)
    assert all(torch.isfinite(v).all() for v in ckpt["g_ab"].values())
    # the in-memory weights were not updated with the NaN step either
    assert all(torch.isfinite(p).all() for p in trainer.g_ab.parameters())


def test_checkpoint_refuses_nan_weights(tmp_path):
    trainer = _trainer(tmp_path, "nan", n_calls=100)
    with torch.no_grad():
        next(trainer.d_b.parameters())[0] = float("inf")
    with pytest.raises(TrainingError, match="network d_b has NaN/Inf weights"):
        save_checkpoint(trainer, tmp_path / "x.pt")
    assert not list(tmp_path.iterdir())


def test_out_of_memory_names_patch_and_batch_size(tmp_path):
    trainer = _trainer(tmp_path, "oom", n_calls=0)
    with pytest.raises(TrainingError) as info:
        trainer.run()
    msg = str(info.value)
    assert "\n" not in msg
    assert "out of host memory" in msg and "patch size 8x8" in msg and "batch size 2" in msg
    assert "OutOfMemoryError" in msg


def test_nan_guard_handler_for_monai_trainers():
    data = [{"image": a, "label": a} for a in random_images(2, 1, (4, 4), 0)]
    net = TinyGenerator(2, 1, 1)
    trainer = SupervisedTrainer(
        "cpu",
        1,
        DataLoader(data, batch_size=1),
        net,
        torch.optim.SGD(net.parameters(), 0.1),
        lambda p, t: (p - t).abs().mean() * float("inf"),
        train_handlers=[NanGuard()],
        decollate=False,
    )
    with pytest.raises(TrainingError, match="loss=inf"):
        trainer.run()
