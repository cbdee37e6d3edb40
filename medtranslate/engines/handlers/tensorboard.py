"""TensorBoard scalars of a training run: every loss, the learning rates and the epoch metrics (rank 0 only)."""

from __future__ import annotations

import os
from typing import Any

from ignite.engine import Events
from monai.utils import optional_import

from medtranslate.engines.distributed import is_main_process
from medtranslate.engines.handlers.outputs import loss_scalars

__all__ = ["TensorBoardLossHandler"]

SummaryWriter, _ = optional_import("torch.utils.tensorboard", name="SummaryWriter")


class TensorBoardLossHandler:
    """Write ``train/<loss>`` every ``interval`` iterations, ``lr/<optimiser>`` and ``metrics/<name>`` per epoch.

    MONAI's ``TensorBoardStatsHandler`` is not used because it opens its ``SummaryWriter`` in ``__init__`` on every
    rank (one event file per process under torchrun); this one opens it on rank 0 when attached. Attach it after
    the validation handler so that the epoch metrics it writes are the fresh ones.

    Args:
        log_dir: the TensorBoard folder.
        interval: iterations between loss points.
    """

    def __init__(self, log_dir: str | os.PathLike, interval: int = 1) -> None:
        self.log_dir = str(log_dir)
        self.interval = max(1, int(interval))
        self.writer: Any = None

    def attach(self, engine: Any) -> None:
        """Open the writer (rank 0) and register on the trainer's events.

        Args:
            engine: the trainer.
        """
        if not is_main_process():
            return
        self.writer = SummaryWriter(log_dir=self.log_dir)
        engine.add_event_handler(Events.ITERATION_COMPLETED(every=self.interval), self.iteration_completed)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self.epoch_completed)
        engine.add_event_handler(Events.COMPLETED, self.close)
        engine.add_event_handler(Events.EXCEPTION_RAISED, self._close_and_raise)

    def iteration_completed(self, engine: Any) -> None:
        """Write the losses of this iteration.

        Args:
            engine: the trainer.
        """
        for name, value in loss_scalars(engine.state.output).items():
            self.writer.add_scalar(f"train/{name}", value, engine.state.iteration)

    def epoch_completed(self, engine: Any) -> None:
        """Write learning rates and epoch metrics.

        Args:
            engine: the trainer.
        """
        optimizers = engine.checkpoint_optimizers() if hasattr(engine, "checkpoint_optimizers") else {}
        for name, opt in optimizers.items():
            self.writer.add_scalar(f"lr/{name}", opt.param_groups[0]["lr"], engine.state.epoch)
        for name, value in engine.state.metrics.items():
            if isinstance(value, (int, float)):
                self.writer.add_scalar(f"metrics/{name}", value, engine.state.epoch)
        self.writer.flush()

    def close(self, engine: Any = None) -> None:
        """Flush and close the event file.

        Args:
            engine: unused (ignite passes it).
        """
        if self.writer is not None:
            self.writer.close()

    def _close_and_raise(self, engine: Any, e: BaseException) -> None:
        self.close()
        raise e
