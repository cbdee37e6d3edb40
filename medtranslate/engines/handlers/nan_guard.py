"""Stop training with a clear message as soon as a loss is NaN or infinite, before it reaches the weights."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from ignite.engine import Events

from medtranslate.engines.errors import TrainingError
from medtranslate.engines.handlers.outputs import loss_scalars

__all__ = ["finite_loss_values", "non_finite_error", "NanGuard"]


def non_finite_error(engine: Any, bad: Mapping[str, float]) -> TrainingError:
    """Build the error that names the bad losses, the position in the run and the last good checkpoint.

    Args:
        engine: the trainer (its ``state`` gives epoch, iteration and ``last_checkpoint`` when one was written).
        bad: loss name -> its non-finite value.

    Returns:
        A :class:`TrainingError` to raise.
    """
    state = getattr(engine, "state", None)
    epoch = getattr(state, "epoch", "?")
    iteration = getattr(state, "iteration", "?")
    last = getattr(state, "last_checkpoint", None)
    names = ", ".join(f"{k}={v}" for k, v in bad.items())
    kept = (
        f"the last good checkpoint ({last}) is intact, resume from it after the fix"
        if last
        else "no checkpoint had been written yet"
    )
    return TrainingError(
        last,
        f"training stopped at epoch {epoch}, iteration {iteration}: non-finite loss ({names}); {kept}; "
        "lower the learning rate, train with amp bf16 or none instead of fp16, or check the inputs for NaN/Inf",
    )


def finite_loss_values(losses: Mapping[str, torch.Tensor | float], engine: Any = None) -> dict[str, float]:
    """Read all losses with one device sync and raise if any is NaN or infinite.

    Args:
        losses: name -> scalar tensor (or number).
        engine: the trainer, for the error message.

    Returns:
        name -> Python float.

    Raises:
        TrainingError: when a loss is not finite.
    """
    if not losses:
        return {}
    names = list(losses)
    stacked = torch.stack(
        [
            v.detach().float().reshape(()) if isinstance(v, torch.Tensor) else torch.tensor(float(v))
            for v in losses.values()
        ]
    )
    values = dict(zip(names, stacked.cpu().tolist()))
    bad = {k: v for k, v in values.items() if v != v or v in (float("inf"), float("-inf"))}
    if bad:
        raise non_finite_error(engine, bad)
    return values


class NanGuard:
    """Handler for any ignite engine (e.g. MONAI's own trainers): check the losses after every iteration.

    medtranslate's trainers already check inside the step, before the optimiser update; this handler serves engines
    that do not.

    Args:
        output_transform: maps ``engine.state.output`` to ``{name: loss}``; default: every ``loss*`` entry.
    """

    def __init__(self, output_transform: Callable[[Any], Mapping[str, Any]] = loss_scalars) -> None:
        self.output_transform = output_transform

    def attach(self, engine: Any) -> None:
        """Check on every ``ITERATION_COMPLETED``.

        Args:
            engine: the ignite engine.
        """
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def __call__(self, engine: Any) -> None:
        """Raise :class:`TrainingError` if a loss of the last iteration is not finite.

        Args:
            engine: the ignite engine.
        """
        finite_loss_values(self.output_transform(engine.state.output), engine)
