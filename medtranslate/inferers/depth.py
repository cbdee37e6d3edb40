"""Run a depth-first translator on stacks whose depth lies on another axis (e.g. confocal stacks, depth last)."""

from __future__ import annotations

from typing import Any

import torch
from monai.data import MetaTensor

__all__ = ["DepthAxisTranslator"]


class DepthAxisTranslator:
    """Run a depth-first translator (``(C, depth, H, W)`` windows) on stacks whose depth lies on another axis.

    The volume is moved to depth-first order for the network and the result moved back, so the output, the cycle
    map and the projections stay on the input's grid and geometry. Every other attribute (``device``, ``amp``,
    ``spatial_dims``, ...) is the wrapped translator's.

    Args:
        translator: a :class:`medtranslate.inferers.VolumeTranslator` (``translator(network, volume, name)``).
        depth_axis: the depth axis among the spatial axes of the files (0 = already depth-first).
    """

    def __init__(self, translator: Any, depth_axis: int = 0) -> None:
        self.translator = translator
        self.depth_axis = int(depth_axis) % 3

    def __getattr__(self, name: str) -> Any:
        if name == "translator":  # not set yet (e.g. while unpickling)
            raise AttributeError(name)
        return getattr(self.translator, name)

    def __call__(self, network: Any, volume: Any, name: str | None = None) -> Any:
        """Translate ``volume`` (``(C, *spatial)`` in file order).

        Args:
            network: the generator.
            volume: the normalised input.
            name: the input's name, for messages.

        Returns:
            The translation in file order; a ``MetaTensor`` keeps the input's metadata.
        """
        if self.depth_axis == 0:
            return self.translator(network, volume, name)
        meta = dict(volume.meta) if isinstance(volume, MetaTensor) else None
        plain = volume.as_tensor() if isinstance(volume, MetaTensor) else torch.as_tensor(volume)
        out = self.translator(network, torch.movedim(plain, 1 + self.depth_axis, 1), name)
        out = torch.movedim(torch.as_tensor(out), 1, 1 + self.depth_axis)
        return MetaTensor(out, meta=meta) if meta is not None else out
