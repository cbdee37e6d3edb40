"""Stop training after a wall-clock budget (demos, smoke runs): the run ends as if ``max_epochs`` were reached."""

from __future__ import annotations

import logging
import time
from typing import Any

from ignite.engine import Events

__all__ = ["TimeLimit"]

logger = logging.getLogger(__name__)


class TimeLimit:
    """Terminate the trainer at the first iteration that ends after ``seconds`` of training.

    ``Engine.terminate`` still fires ``COMPLETED``, so the final checkpoint is written as usual.

    Args:
        seconds: the budget; ``None`` or a non-positive value disables the limit.
    """

    def __init__(self, seconds: float | None = None) -> None:
        self.seconds = None if seconds is None or seconds <= 0 else float(seconds)
        self._start = 0.0

    def attach(self, engine: Any) -> None:
        """Register on ``STARTED`` and ``ITERATION_COMPLETED`` (nothing when disabled).

        Args:
            engine: the trainer.
        """
        if self.seconds is None:
            return
        engine.add_event_handler(Events.STARTED, self._started)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def _started(self, engine: Any) -> None:
        self._start = time.perf_counter()

    def __call__(self, engine: Any) -> None:
        """Terminate when the budget is spent.

        Args:
            engine: the trainer.
        """
        if self.seconds is not None and time.perf_counter() - self._start >= self.seconds:
            logger.info(f"time limit of {self.seconds:g} s reached at iteration {engine.state.iteration}; stopping")
            engine.terminate()
