"""Run a network at the fixed input size it was trained on (resize in, run, resize back)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from medtranslate.errors import ConfigError

__all__ = ["ResizeNetwork"]


class ResizeNetwork(nn.Module):
    """Run a 2D (or 3D) network at a fixed input size: resize the input to ``size``, run, resize back.

    The paper behind the CT/MR bundle (seed 003) trains on slices resized to 256 x 256, so at inference each slice is
    resized to that size and the output is resized back to the slice's own grid. Down-sizing uses ``mode`` with
    anti-aliasing (bilinear/bicubic), up-sizing uses ``mode`` without; both with ``align_corners=False``.

    Args:
        network: the generator.
        size: the spatial size the network was trained on, e.g. ``(256, 256)``.
        mode: "bilinear" (2D), "trilinear" (3D), "bicubic" or "nearest".
    """

    def __init__(self, network: nn.Module, size: Sequence[int], mode: str = "bilinear") -> None:
        super().__init__()
        self.network = network
        self.size = tuple(int(s) for s in size)
        self.mode = mode

    def _resize(self, x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        if tuple(x.shape[2:]) == tuple(size):
            return x
        kwargs: dict[str, Any] = {}
        if self.mode != "nearest":
            kwargs["align_corners"] = False
        if self.mode in ("bilinear", "bicubic") and any(s < t for s, t in zip(size, x.shape[2:])):
            kwargs["antialias"] = True
        # float32: the antialiased CPU kernels have no bf16 version (a bf16 network output under autocast)
        return F.interpolate(x.float(), size=tuple(size), mode=self.mode, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Resize ``x`` (B, C, *spatial) to ``size``, run the network, resize the result back.

        Args:
            x: the input batch.
        """
        if len(self.size) != x.ndim - 2:
            raise ConfigError(None, f"resize size {self.size} does not match a {x.ndim - 2}D input")
        y = self.network(self._resize(x, self.size))
        return self._resize(y, x.shape[2:])
