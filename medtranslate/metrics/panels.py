"""A row of labelled image panels in one PNG (e.g. noisy RCM | despeckled | Gareau | CycleGAN H&E | real H&E)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from medtranslate.metrics.figures import to_display
from medtranslate.utils.atomic import atomic_path

__all__ = ["save_panels"]


def save_panels(
    images: Sequence[Any],
    path: str | os.PathLike,
    titles: Sequence[str],
    value_range: tuple[float, float] | None = (0.0, 1.0),
    panel_inches: float = 3.0,
    dpi: int = 100,
) -> Path:
    """Save images side by side with titles.

    Args:
        images: 2D grayscale or RGB images (layouts of :func:`~medtranslate.metrics.figures.to_display`).
        path: the PNG (written through a temporary file).
        titles: one title per image.
        value_range: display range of every panel; ``None`` stretches each panel's 1-99th percentile.
        panel_inches: width of one panel.
        dpi: resolution.

    Returns:
        The PNG path.
    """
    panels = [to_display(im, value_range) for im in images]
    aspect = max(p.shape[0] / p.shape[1] for p in panels)
    fig = Figure(figsize=(len(panels) * panel_inches, panel_inches * aspect + 0.45), dpi=dpi)
    FigureCanvasAgg(fig)
    for i, (panel, title) in enumerate(zip(panels, titles)):
        ax = fig.add_subplot(1, len(panels), i + 1)
        ax.imshow(panel, cmap="gray" if panel.ndim == 2 else None, vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path
