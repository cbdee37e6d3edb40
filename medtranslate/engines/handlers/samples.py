"""PNG grids of sample translations (real, translated, reconstructed) every N iterations."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ignite.engine import Events
from PIL import Image

from medtranslate.engines.distributed import is_main_process
from medtranslate.utils.atomic import atomic_path

__all__ = ["SampleSaver", "to_display"]

_DEFAULT_ROWS = (
    ("real_A", "fake_B", "rec_A"),
    ("real_B", "fake_A", "rec_B"),
    ("image", "pred", "label"),
)


def to_display(image: torch.Tensor, value_range: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """One image ``(C, *spatial)`` as an 8-bit RGB array: the middle slice of a 3D stack, 1 channel as gray.

    Args:
        image: a channel-first 2D or 3D image (3D: the first spatial axis is the depth).
        value_range: the intensity range mapped to 0..255.

    Returns:
        ``(H, W, 3)`` uint8.
    """
    x = image.detach().float().cpu()
    while x.ndim > 3:  # 3D: middle slice along depth
        x = x[:, x.shape[1] // 2]
    if x.shape[0] != 3:
        x = x[:1].expand(3, *x.shape[1:])
    lo, hi = value_range
    x = ((x.clamp(lo, hi) - lo) / (hi - lo) * 255.0).round().to(torch.uint8)
    return x.permute(1, 2, 0).numpy()


class SampleSaver:
    """Save ``<prefix>_<iteration>.png``: one row per domain (e.g. real A | fake B | reconstructed A), rank 0 only.

    Args:
        output_dir: the folder of the PNGs.
        interval: iterations between grids.
        rows: rows of output keys to show; default: the CycleGAN rows, pix2pix's ``real_A fake_B real_B`` or the
            supervised ``image pred label``, whichever keys the output has.
        max_items: batch items shown (stacked vertically).
        prefix: file name prefix.
        value_range: intensity range of the images.
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        interval: int = 500,
        rows: Sequence[Sequence[str]] | None = None,
        max_items: int = 1,
        prefix: str = "samples",
        value_range: tuple[float, float] = (-1.0, 1.0),
    ) -> None:
        self.output_dir = Path(output_dir)
        self.interval = max(1, int(interval))
        self.rows = None if rows is None else [list(r) for r in rows]
        self.max_items = max(1, int(max_items))
        self.prefix = prefix
        self.value_range = tuple(value_range)

    def attach(self, engine: Any) -> None:
        """Register on ``ITERATION_COMPLETED(every=interval)``.

        Args:
            engine: the trainer.
        """
        engine.add_event_handler(Events.ITERATION_COMPLETED(every=self.interval), self)

    def _rows(self, output: dict[str, Any]) -> list[list[str]]:
        def image(k: str) -> bool:
            return isinstance(output.get(k), torch.Tensor) and output[k].ndim >= 4

        if self.rows is not None:
            return [[k for k in row if image(k)] for row in self.rows]
        rows = [[k for k in row if image(k)] for row in _DEFAULT_ROWS]
        if image("real_A") and image("fake_B") and not image("rec_A"):  # pix2pix
            rows = [[k for k in ("real_A", "fake_B", "real_B") if image(k)]]
        return [r for r in rows if len(r) > 1]

    def __call__(self, engine: Any) -> Path | None:
        """Write the grid of the current output.

        Args:
            engine: the trainer.

        Returns:
            The PNG path, or ``None`` when nothing was written.
        """
        output = engine.state.output
        if not is_main_process() or not isinstance(output, dict):
            return None
        tiles = []
        for row in self._rows(output):
            for i in range(min(self.max_items, min(output[k].shape[0] for k in row))):
                tiles.append([to_display(output[k][i], self.value_range) for k in row])
        if not tiles:
            return None
        grid = _grid(tiles)
        path = self.output_dir / f"{self.prefix}_{engine.state.iteration:08d}.png"
        with atomic_path(path) as tmp:
            Image.fromarray(grid).save(tmp, format="PNG")
        return path


def _grid(rows: list[list[np.ndarray]], gap: int = 2) -> np.ndarray:
    h = max(t.shape[0] for r in rows for t in r)
    w = max(t.shape[1] for r in rows for t in r)
    cols = max(len(r) for r in rows)
    out = np.zeros((len(rows) * (h + gap) - gap, cols * (w + gap) - gap, 3), dtype=np.uint8)
    for i, row in enumerate(rows):
        for j, tile in enumerate(row):
            y, x = i * (h + gap), j * (w + gap)
            out[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
    return out
