"""A row of labelled image panels in one PNG (e.g. noisy RCM | despeckled | Gareau | CycleGAN H&E | real H&E)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medtranslate.metrics.figures import save_display_row, to_display

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
    return save_display_row(panels, titles, path, panel_inches=panel_inches, dpi=dpi, title_inches=0.45, fontsize=9)
