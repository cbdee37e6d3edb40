"""Side-by-side PNG figures (input projection | output projection), drawn with matplotlib's Agg canvas."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from medtranslate.errors import InputError
from medtranslate.utils.atomic import atomic_path

__all__ = ["save_panel_figure", "to_display", "save_side_by_side", "save_display_row"]


def _show(ax: Any, panel: np.ndarray) -> None:
    """Draw a :func:`to_display` panel (values in [0, 1]) on ``ax``, pixels as pixels, no axes."""
    ax.imshow(panel, cmap="gray" if panel.ndim == 2 else None, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()


def _save_png(fig: Figure, path: str | os.PathLike) -> Path:
    """Lay out ``fig`` and write it to ``path`` as PNG through a temporary name."""
    fig.tight_layout()
    out = Path(path)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    return out


def to_display(image: Any, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """Turn a 2D grayscale or RGB image into an (H, W) or (H, W, 3) float array in [0, 1] for display.

    Args:
        image: (H, W), (1, H, W), (3, H, W) or (H, W, 3), numpy array or torch tensor.
        value_range: (low, high) mapped to black and white; ``None`` stretches the 1st to 99th percentile of the
            image (all channels together, so colour balance is kept).

    Raises:
        InputError: when the image is not 2D grayscale or RGB, or holds no finite value.
    """
    a = image.detach().cpu().numpy() if hasattr(image, "detach") else np.asarray(image)
    a = np.asarray(a, dtype=np.float32)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):  # channel-first
        a = np.moveaxis(a, 0, -1)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] != 3):
        raise InputError(None, f"a figure panel must be a 2D grayscale or RGB image, got shape {np.shape(image)}")
    finite = np.isfinite(a)
    if not finite.any():
        raise InputError(None, "a figure panel holds no finite value")
    if value_range is None:
        lo, hi = (float(v) for v in np.percentile(a[finite], [1, 99]))
    else:
        lo, hi = float(value_range[0]), float(value_range[1])
    scale = hi - lo if hi > lo else 1.0
    return np.clip((np.where(finite, a, lo) - lo) / scale, 0.0, 1.0)


def save_side_by_side(
    left: Any,
    right: Any,
    path: str | os.PathLike,
    titles: Sequence[str] = ("input (projection)", "output (projection)"),
    value_ranges: Sequence[tuple[float, float] | None] = (None, None),
    panel_inches: float = 4.0,
    dpi: int = 100,
) -> Path:
    """Save two images next to each other as a PNG (for example OCT en-face projection | translated confocal one).

    Args:
        left: first image (see :func:`to_display` for the accepted layouts).
        right: second image.
        path: the PNG to write (through a temporary file and a rename).
        titles: the two panel titles.
        value_ranges: display range of each panel, ``None`` for a 1-99 percentile stretch.
        panel_inches: width of each panel in inches.
        dpi: resolution.

    Returns:
        The PNG path.
    """
    panels = [to_display(left, value_ranges[0]), to_display(right, value_ranges[1])]
    return save_display_row(panels, titles, path, panel_inches=panel_inches, dpi=dpi)


def save_display_row(
    panels: Sequence[np.ndarray],
    titles: Sequence[str],
    path: str | os.PathLike,
    panel_inches: float = 4.0,
    dpi: int = 100,
    title_inches: float = 0.4,
    fontsize: int = 10,
) -> Path:
    """One row of display-ready panels (:func:`to_display` output, values in [0, 1]) with titles, as a PNG.

    Args:
        panels: 2D grey or ``(H, W, 3)`` colour panels in [0, 1].
        titles: one title per panel.
        path: the PNG to write (through a temporary file and a rename).
        panel_inches: width of each panel in inches.
        dpi: resolution.
        title_inches: height added for the titles.
        fontsize: title font size.

    Returns:
        The PNG path.
    """
    aspect = max(p.shape[0] / p.shape[1] for p in panels)
    fig = Figure(figsize=(len(panels) * panel_inches, panel_inches * aspect + title_inches), dpi=dpi)
    FigureCanvasAgg(fig)
    for i, (panel, title) in enumerate(zip(panels, titles)):
        ax = fig.add_subplot(1, len(panels), i + 1)
        _show(ax, panel)
        ax.set_title(title, fontsize=fontsize)
    return _save_png(fig, path)


def save_panel_figure(
    panels: Sequence[tuple[str, Any]],
    path: str | os.PathLike,
    value_ranges: Sequence[tuple | None] | None = None,
    columns: int | None = None,
) -> Path:
    """A one-row PNG of 2D grey panels with titles (the layout of seed 003's Figure 4), written atomically.

    Args:
        panels: ``(title, 2D array)`` pairs; arrays are shown with row 0 at the top.
        path: destination PNG.
        value_ranges: display range per panel; default each panel's 1st-99th percentile.
        columns: panels per row (default: all in one row); more panels wrap to further rows.

    A panel may also be a colour image ``(H, W, 3)``, shown in colour after scaling its display range to [0, 1].

    Returns:
        The PNG path.
    """
    ncol = max(1, min(int(columns or len(panels)), len(panels)))
    nrow = -(-len(panels) // ncol)
    fig = Figure(figsize=(3.2 * ncol, 3.4 * nrow), dpi=100)
    FigureCanvasAgg(fig)
    for i, (title, img) in enumerate(panels):
        img = np.asarray(img, dtype=np.float32)
        vr = value_ranges[i] if value_ranges else None
        lo, hi = (float(v) for v in (vr if vr is not None else np.percentile(img, [1, 99])))
        hi = hi if hi > lo else lo + 1
        ax = fig.add_subplot(nrow, ncol, i + 1)
        if img.ndim == 3 and img.shape[-1] == 3:
            ax.imshow(np.clip((img - lo) / (hi - lo), 0.0, 1.0))
        else:
            ax.imshow(img, cmap="gray", vmin=lo, vmax=hi)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    return _save_png(fig, path)


def save_image_grid(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    path: str | os.PathLike,
    value_ranges: Sequence[tuple[float, float] | None] | None = None,
    panel_inches: float = 2.6,
    dpi: int = 100,
) -> Path:
    """A grid of grayscale or RGB panels, one titled column per stage (e.g. vessels | denoised | fundus | x2 | real).

    Args:
        columns: the column titles.
        rows: one sequence of images per row, one per column (layouts of :func:`to_display`; row 0 at the top).
        path: destination PNG, written atomically.
        value_ranges: display range per column; ``None`` entries stretch the 1st-99th percentile.
        panel_inches: size of each panel in inches.
        dpi: resolution.

    Returns:
        The PNG path.
    """
    n_rows, n_cols = len(rows), len(columns)
    fig = Figure(figsize=(panel_inches * n_cols, panel_inches * n_rows + 0.4), dpi=dpi)
    FigureCanvasAgg(fig)
    for r, row in enumerate(rows):
        for c, img in enumerate(row):
            vr = value_ranges[c] if value_ranges else None
            panel = to_display(img, vr)
            ax = fig.add_subplot(n_rows, n_cols, r * n_cols + c + 1)
            _show(ax, panel)
            if r == 0:
                ax.set_title(columns[c], fontsize=9)
    return _save_png(fig, path)
