"""Progressive patch size: train on small patches first, then larger ones (seed 001: 256 then 512)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ignite.engine import Events

from medtranslate.errors import ConfigError

__all__ = ["ProgressivePatchSize"]


class ProgressivePatchSize:
    """At each epoch start, give the training dataset the patch size scheduled for that epoch.

    The dataset must have ``set_patch_size(size)`` (e.g. :class:`~medtranslate.data.unpaired.UnpairedDataset`).
    Pair it with :class:`~medtranslate.engines.LinearDecayLR` for "50 epochs at 256, then 50 at 512 with decay".
    The current size is kept in ``engine.state.patch_size`` (the out-of-memory message names it).

    Args:
        schedule: first epoch (1-based) -> patch size, e.g. ``{1: [256, 256], 51: [512, 512]}`` (JSON string keys
            work), or a list of ``[epoch, size]`` pairs.
        dataset: the dataset to drive; default: the trainer's ``data_loader.dataset``.

    Raises:
        ConfigError: for an empty schedule or one that does not start at epoch 1.
    """

    def __init__(
        self,
        schedule: Mapping[Any, Sequence[int]] | Sequence[tuple[int, Sequence[int]]],
        dataset: Any = None,
    ) -> None:
        items = schedule.items() if isinstance(schedule, Mapping) else schedule
        self.schedule = sorted((int(epoch), tuple(int(s) for s in size)) for epoch, size in items)
        if not self.schedule or self.schedule[0][0] > 1:
            raise ConfigError(None, f"the patch-size schedule must start at epoch 1, got {schedule!r}")
        self.dataset = dataset
        self._target: Any = None

    def size_for(self, epoch: int) -> tuple[int, ...]:
        """The patch size of a 1-based epoch.

        Args:
            epoch: the epoch.

        Returns:
            The spatial patch size.
        """
        current = self.schedule[0][1]
        for start, size in self.schedule:
            if epoch >= start:
                current = size
        return current

    def attach(self, engine: Any) -> None:
        """Register on ``EPOCH_STARTED``.

        Args:
            engine: the trainer.

        Raises:
            ConfigError: when the dataset cannot change its patch size.
        """
        dataset = self.dataset if self.dataset is not None else getattr(engine.data_loader, "dataset", None)
        if not hasattr(dataset, "set_patch_size"):
            raise ConfigError(None, f"progressive patch size needs a dataset with set_patch_size, not {type(dataset)}")
        self._target = dataset
        engine.add_event_handler(Events.EPOCH_STARTED, self)

    def __call__(self, engine: Any) -> None:
        """Apply the size of the starting epoch.

        Args:
            engine: the trainer.
        """
        size = self.size_for(engine.state.epoch)
        self._target.set_patch_size(size)
        engine.state.patch_size = size
