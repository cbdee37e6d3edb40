"""A progress bar with ETA and the current losses (ignite's tqdm ``ProgressBar``, rank 0 only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ignite.handlers import ProgressBar

from medtranslate.engines.distributed import is_main_process
from medtranslate.engines.handlers.outputs import loss_scalars

__all__ = ["ProgressHandler"]


class ProgressHandler:
    """Attach ignite's ``ProgressBar`` with a loss read-out, so that a MONAI handler list can hold it.

    ignite's bar needs ``attach(engine, output_transform=...)``, while MONAI workflows call ``attach(engine)`` only;
    this wrapper supplies the transform. The bar shows iterations of the epoch, rate and ETA.

    Args:
        names: loss keys to show; default: the totals (``loss_G``, ``loss_D*``, ``loss``).
        persist: keep each epoch's finished bar on screen.
    """

    def __init__(self, names: Sequence[str] | None = None, persist: bool = False) -> None:
        self.names = None if names is None else list(names)
        self.persist = persist
        self.bar: Any = None

    def _show(self, output: Any) -> dict[str, float]:
        values = loss_scalars(output)
        if self.names is not None:
            return {k: values[k] for k in self.names if k in values}
        return {k: v for k, v in values.items() if k in ("loss", "loss_G") or k.startswith("loss_D")}

    def attach(self, engine: Any) -> None:
        """Create and attach the bar on rank 0.

        Args:
            engine: the trainer.
        """
        if not is_main_process():
            return
        self.bar = ProgressBar(persist=self.persist)
        self.bar.attach(engine, output_transform=self._show)
