"""Translation callback: the en-face projection of the input stack beside that of the translated one (a PNG)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medtranslate.metrics.figures import save_side_by_side
from medtranslate.metrics.projection import stack_images
from medtranslate.transforms.oct import select_depth_range

__all__ = ["EnFaceProjection"]


class EnFaceProjection:
    """:class:`~medtranslate.workflows.TranslationWorkflow` callback writing ``<output_dir>/<key>_enface.png``.

    Both panels project the same depth range: with ``depth_range`` set, the input is cropped to the slab the network
    translated before it is projected.

    Args:
        depth_axis: the depth axis among the spatial axes of the files.
        mode: ``"mean"`` (fundus-like) or ``"max"`` (maximum intensity), for the input panel (and the output panel
            unless ``output_mode`` is given).
        output_range: display range of the saved output (``(0, 255)`` for 8-bit confocal), ``None`` to stretch.
        suffix: file name suffix.
        depth_range: ``(start, stop)`` of the translated slab (the inference config's ``depth_range``), ``None``
            for the whole stack.
        titles: the two panel titles.
        output_mode: the output panel's projection, e.g. ``"max"`` for a confocal stack (the maximum-intensity
            projection microscopists show); None: ``mode``.
    """

    def __init__(
        self,
        depth_axis: int = 0,
        mode: str = "mean",
        output_range: Sequence[float] | None = (0, 255),
        suffix: str = "_enface.png",
        depth_range: Sequence[int] | None = None,
        titles: Sequence[str] = ("OCT (en-face projection)", "synthetic confocal (en-face projection)"),
        output_mode: str | None = None,
    ) -> None:
        self.depth_axis, self.mode, self.suffix = int(depth_axis), mode, suffix
        self.output_mode = mode if output_mode is None else output_mode
        self.output_range = None if output_range is None else (float(output_range[0]), float(output_range[1]))
        self.depth_range = None if depth_range is None else list(depth_range)
        self.titles = tuple(titles)

    def __call__(self, item: Any) -> list[Path]:
        """Write the figure of one translated item.

        Args:
            item: a :class:`~medtranslate.workflows.TranslatedItem`.

        Returns:
            ``[path of the PNG]``.
        """
        source = select_depth_range(item.image, self.depth_range, self.depth_axis)
        left = stack_images(source, self.depth_axis, "projection", self.mode)[0]
        right = stack_images(item.output, self.depth_axis, "projection", self.output_mode)[0]
        path = Path(item.output_dir) / f"{item.key}{self.suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        return [save_side_by_side(left, right, path, titles=self.titles, value_ranges=(None, self.output_range))]
