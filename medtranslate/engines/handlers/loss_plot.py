"""A PNG plot of the loss curves, rewritten every N iterations; its history is part of the checkpoint."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import torch
from ignite.engine import Events
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from monai.engines.utils import IterationEvents

from medtranslate.engines.distributed import is_main_process
from medtranslate.engines.handlers.outputs import loss_scalars
from medtranslate.utils.atomic import atomic_path

__all__ = ["LossPlotHandler"]


class LossPlotHandler:
    """Record every loss each iteration and plot them to ``output_path`` (rank 0 writes).

    The left panel shows the totals (``loss_G``, ``loss_D*``, ``loss``), the right one the components; thin lines
    are raw values, thick ones a moving average over ``smoothing`` iterations. The history is registered with the
    trainer's checkpoint, so a resumed run continues the same curves.

    Args:
        output_path: the PNG file.
        interval: iterations between rewrites of the plot (it is also written when the run completes).
        smoothing: moving-average window in iterations (1 = none).
    """

    def __init__(self, output_path: str | os.PathLike, interval: int = 100, smoothing: int = 25) -> None:
        self.output_path = Path(output_path)
        self.interval = max(1, int(interval))
        self.smoothing = max(1, int(smoothing))
        self.iterations: list[int] = []
        self.history: dict[str, list[float]] = {}

    def attach(self, engine: Any) -> None:
        """Register the recorder (just after the step, before checkpoints) and the writer.

        Args:
            engine: the trainer.
        """
        registered = IterationEvents.MODEL_COMPLETED in getattr(engine, "_allowed_events", [])
        engine.add_event_handler(
            IterationEvents.MODEL_COMPLETED if registered else Events.ITERATION_COMPLETED, self.record
        )
        engine.add_event_handler(Events.ITERATION_COMPLETED(every=self.interval), self.write)
        engine.add_event_handler(Events.COMPLETED, self.write)
        if hasattr(engine, "register_checkpoint_object"):
            engine.register_checkpoint_object("loss_plot", self)

    def record(self, engine: Any) -> None:
        """Append this iteration's losses.

        Args:
            engine: the trainer.
        """
        values = loss_scalars(engine.state.output)
        if not values:
            return
        n = len(self.iterations)
        self.iterations.append(int(engine.state.iteration))
        for name in values.keys() - self.history.keys():
            self.history[name] = [math.nan] * n
        for name, series in self.history.items():
            series.append(values.get(name, math.nan))

    def state_dict(self) -> dict[str, Any]:
        """The history as tensors (``weights_only``-safe).

        Returns:
            ``{"iterations": LongTensor, "names": [...], "values": FloatTensor (n_iterations, n_names)}``.
        """
        names = sorted(self.history)
        values = torch.tensor([self.history[k] for k in names], dtype=torch.float64).T if names else torch.zeros(0, 0)
        return {"iterations": torch.tensor(self.iterations, dtype=torch.int64), "names": names, "values": values}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the history of a checkpoint.

        Args:
            state: the dict from :meth:`state_dict`.
        """
        self.iterations = [int(i) for i in state["iterations"].tolist()]
        values = state["values"]
        self.history = {name: values[:, j].tolist() for j, name in enumerate(state["names"])}

    def _smooth(self, series: list[float]) -> list[float]:
        out, window = [], []
        for v in series:
            window.append(v)
            if len(window) > self.smoothing:
                window.pop(0)
            finite = [w for w in window if not math.isnan(w)]
            out.append(sum(finite) / len(finite) if finite else math.nan)
        return out

    def write(self, engine: Any = None) -> Path | None:
        """Draw the curves and replace the PNG atomically (rank 0 only).

        Args:
            engine: unused (ignite passes it).

        Returns:
            The PNG path, or ``None`` when nothing was written.
        """
        if not self.iterations or not is_main_process():
            return None
        totals = [k for k in sorted(self.history) if k in ("loss", "loss_G") or k.startswith("loss_D")]
        parts = [k for k in sorted(self.history) if k not in totals]
        fig = Figure(figsize=(12 if parts else 6, 4), dpi=100)
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, 2 if parts else 1, squeeze=False)
        for ax, names, title in ((axes[0][0], totals, "totals"), (axes[0][-1], parts, "components")):
            if not names:
                continue
            for name in names:
                line = ax.plot(self.iterations, self.history[name], linewidth=0.5, alpha=0.35)[0]
                ax.plot(self.iterations, self._smooth(self.history[name]), color=line.get_color(), label=name)
            ax.set_xlabel("iteration")
            ax.set_title(title)
            ax.legend(fontsize="small")
            ax.grid(alpha=0.3)
        fig.tight_layout()
        with atomic_path(self.output_path) as tmp:
            fig.savefig(tmp, dpi=100, format="png")
        return self.output_path
