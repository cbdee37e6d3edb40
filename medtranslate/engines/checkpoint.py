"""Write complete training checkpoints atomically and load them back with ``weights_only=True``."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch
from ignite.engine import Events

from medtranslate import __version__
from medtranslate.engines.distributed import is_main_process
from medtranslate.engines.errors import TrainingError
from medtranslate.errors import InputError
from medtranslate.modelio import (
    atomic_save_torch,
    list_checkpoints,
    load_network,
    network_state,
    read_checkpoint,
    resolve_checkpoint,
)
from medtranslate.utils.atomic import remove_stale_temporaries

__all__ = [
    "CheckpointHandler",
    "save_checkpoint",
    "load_checkpoint",
    "resolve_checkpoint",
    "list_checkpoints",
    "network_state",
    "load_network",
]

logger = logging.getLogger(__name__)


def _assert_finite(trainer: Any, path: Path) -> None:
    nets = trainer.checkpoint_networks() if hasattr(trainer, "checkpoint_networks") else {}
    for name, net in nets.items():
        params = [p.detach() for p in net.parameters()]
        if params and not bool(torch.stack([torch.isfinite(p).all() for p in params]).all()):
            last = getattr(trainer.state, "last_checkpoint", None)
            raise TrainingError(
                last,
                f"network {name} has NaN/Inf weights at iteration {trainer.state.iteration}; {path.name} was not "
                f"written so the last good checkpoint stays intact; lower the learning rate or train without fp16",
            )


def save_checkpoint(trainer: Any, path: str | os.PathLike, record_last: bool = True) -> Path:
    """Write everything ``trainer.checkpoint_objects()`` lists to ``path``, atomically.

    Networks with NaN/Inf weights are refused, so a failing run never replaces a good checkpoint.

    Args:
        trainer: a medtranslate trainer.
        path: the destination ``.pt`` file.
        record_last: remember it as ``trainer.state.last_checkpoint`` (the resume point named in error messages).

    Returns:
        The written path.

    Raises:
        TrainingError: when a network's weights are not finite.
    """
    path = Path(path)
    _assert_finite(trainer, path)
    payload: dict[str, Any] = {k: obj.state_dict() for k, obj in trainer.checkpoint_objects().items()}
    payload["meta"] = {
        "epoch": int(trainer.state.epoch),
        "iteration": int(trainer.state.iteration),
        "medtranslate": __version__,
        "torch": str(torch.__version__),
    }
    atomic_save_torch(payload, path)
    if record_last:
        trainer.state.last_checkpoint = str(path)
    return path


def load_checkpoint(trainer: Any, path: str | os.PathLike, map_location: Any = None) -> Path:
    """Restore a trainer from a checkpoint (``torch.load(..., weights_only=True)``).

    The current ``max_epochs`` is kept, so a finished run can be extended by raising it.

    Args:
        trainer: a medtranslate trainer built like the one that wrote the checkpoint.
        path: a checkpoint file, or a folder (its newest checkpoint).
        map_location: where to load tensors; default: the trainer's device.

    Returns:
        The loaded file.

    Raises:
        InputError: for a missing, unreadable or mismatching checkpoint.
    """
    resolved = resolve_checkpoint(path)
    if resolved is None:
        raise InputError(path, "no checkpoint in this folder")
    ckpt = read_checkpoint(resolved, map_location or trainer.state.device)
    objects = trainer.checkpoint_objects()
    optional = trainer.extra_checkpoint_names
    missing = [k for k in objects if k not in ckpt and k not in optional]
    if missing:
        raise InputError(resolved, f"checkpoint does not match this trainer: missing {', '.join(missing)}")
    saved_len = ckpt["trainer"].get("epoch_length")
    if trainer.state.epoch_length is not None and saved_len not in (None, trainer.state.epoch_length):
        raise InputError(
            resolved,
            f"checkpoint was written with {saved_len} iterations per epoch, this run has {trainer.state.epoch_length}: "
            "resume with the same data and batch size",
        )
    max_epochs = trainer.state.max_epochs
    for key, obj in objects.items():
        if key not in ckpt:
            logger.warning(f"{resolved}: no state for {key}; it starts fresh")
            continue
        try:
            obj.load_state_dict(ckpt[key])
        except (RuntimeError, ValueError, KeyError) as e:
            raise InputError(resolved, f"cannot restore {key} ({str(e).splitlines()[0]})") from e
    if max_epochs is not None:
        trainer.state.max_epochs = max_epochs
    trainer.state.last_checkpoint = str(resolved)
    return resolved


class CheckpointHandler:
    """Write full checkpoints every N iterations and/or epochs and when training completes (rank 0 only).

    MONAI's ``CheckpointSaver`` is not used: it writes non-atomically (ignite ``DiskSaver(atomic=False)``) and also
    saves on exceptions, which would replace the last good checkpoint with the state of a NaN run. Files are named
    ``<prefix>_<iteration>.pt`` (8 digits); the newest ``n_saved`` are kept. A save that falls inside a
    gradient-accumulation window waits for the window's optimiser step, so the file never misses accumulated
    gradients. When a run starts or resumes, temporaries that a hard-killed (SIGKILL) run left in ``save_dir``
    mid-write (``.<name>.<random>.mt-tmp.pt``) are deleted.

    Args:
        save_dir: the checkpoint folder.
        save_interval: iterations between checkpoints (0: none).
        epoch_interval: epochs between checkpoints (0: none).
        save_final: also write one when the run completes.
        n_saved: how many periodic checkpoints to keep (``None``: all).
        file_prefix: file name prefix.
    """

    def __init__(
        self,
        save_dir: str | os.PathLike,
        save_interval: int = 0,
        epoch_interval: int = 0,
        save_final: bool = True,
        n_saved: int | None = 2,
        file_prefix: str = "checkpoint",
    ) -> None:
        self.save_dir = Path(save_dir)
        self.save_interval = int(save_interval)
        self.epoch_interval = int(epoch_interval)
        self.save_final = save_final
        self.n_saved = n_saved
        self.file_prefix = file_prefix
        self._pending = False
        self._last_saved: tuple[int, int] | None = None

    def attach(self, engine: Any) -> None:
        """Register on the trainer's events.

        Args:
            engine: a medtranslate trainer.
        """
        engine.add_event_handler(Events.STARTED, self.remove_stale_temporaries)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._iteration_completed)
        if self.epoch_interval > 0:
            engine.add_event_handler(Events.EPOCH_COMPLETED(every=self.epoch_interval), self._request)
        if self.save_final:
            engine.add_event_handler(Events.COMPLETED, self.save)

    def remove_stale_temporaries(self, engine: Any = None) -> list[Path]:
        """Delete half-written checkpoint temporaries of a killed run from ``save_dir`` (rank 0 only).

        Args:
            engine: the trainer (unused; the signature of an event handler).

        Returns:
            The removed paths.
        """
        if not is_main_process():
            return []
        removed = remove_stale_temporaries(self.save_dir)
        for p in removed:
            logger.info(f"removed {p.name}, a checkpoint left half-written by a killed run")
        return removed

    def _request(self, engine: Any) -> None:
        self._pending = True
        self._iteration_completed(engine, due=False)

    def _iteration_completed(self, engine: Any, due: bool | None = None) -> None:
        if due is None:
            due = self.save_interval > 0 and engine.state.iteration % self.save_interval == 0
        self._pending = self._pending or due
        if self._pending and getattr(engine, "at_step_boundary", True):
            self.save(engine)

    def save(self, engine: Any) -> Path | None:
        """Write a checkpoint for the current iteration now (no-op on ranks other than 0).

        Args:
            engine: a medtranslate trainer.

        Returns:
            The written path (``None`` on other ranks).
        """
        self._pending = False
        path = self.save_dir / f"{self.file_prefix}_{engine.state.iteration:08d}.pt"
        if not is_main_process():
            return None
        if self._last_saved == (id(engine), engine.state.iteration) and path.exists():
            return path  # already written at this iteration (e.g. the interval save just before COMPLETED)
        self._last_saved = (id(engine), engine.state.iteration)
        save_checkpoint(engine, path)
        engine.logger.info(f"saved checkpoint {path}")
        if self.n_saved is not None:
            for _, old in list_checkpoints(self.save_dir, self.file_prefix)[: -self.n_saved or None]:
                if old != path:
                    old.unlink(missing_ok=True)
        return path
