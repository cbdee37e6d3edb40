"""Streaming tiled inference over images too large for memory (whole slides), with Gaussian blending and no seams.

:class:`TiledStreamTranslator` runs a network over a 2D image window by window and hands the result back as row
bands, top to bottom, holding only the rows that windows still contribute to (one window height plus one stride).
Windows overlap by ``window - stride`` and are blended with MONAI's Gaussian importance map, the same blending as
:class:`~medtranslate.inferers.VolumeTranslator` (which needs the whole output in memory); the image is padded by
reflection around its border so that every pixel is covered by the bright centre of some window. The source is a
callable ``read(y, x, h, w) -> (C, h, w)`` array, e.g. a lazy slide reader, so host memory does not depend on the
image size.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
import torch
from monai.data.utils import compute_importance_map
from monai.utils import BlendMode

from medtranslate.errors import ConfigError
from medtranslate.utils.amp import autocast, resolve_amp

__all__ = ["TiledStreamTranslator", "window_starts_1d"]


def window_starts_1d(size: int, window: int, stride: int, margin: int) -> list[int]:
    """Window starts along one axis: from ``-margin`` every ``stride`` until a window reaches ``size + margin``.

    Args:
        size: the axis length.
        window: window length.
        stride: step between windows.
        margin: how far the first window starts before 0 (reflection padding).

    Returns:
        The starts.
    """
    n = max(1, math.ceil((size + 2 * margin - window) / stride) + 1)
    return [-margin + i * stride for i in range(n)]


class TiledStreamTranslator:
    """Translate a large 2D image in overlapping, Gaussian-blended windows, yielding the output in row bands.

    Args:
        window: window size (square; divisible by the network's downsampling factor).
        stride: step between windows (``window // 2`` for 50 % overlap); also the height of the output bands.
        sw_batch_size: windows per network call.
        device: where the network runs.
        amp: ``"bf16"``, ``"fp16"`` or ``None``: autocast of the network call.
        sigma_scale: Gaussian sigma of the blending map as a fraction of the window.
        out_channels: channels of the network output.

    Raises:
        ConfigError: for a stride outside ``(0, window]`` or an unknown ``amp``.
    """

    def __init__(
        self,
        window: int = 512,
        stride: int | None = None,
        sw_batch_size: int = 4,
        device: str | torch.device = "cpu",
        amp: str | None = None,
        sigma_scale: float = 0.125,
        out_channels: int = 3,
    ) -> None:
        self.window = int(window)
        self.stride = int(stride) if stride else self.window // 2
        if not 0 < self.stride <= self.window:
            raise ConfigError(None, f"stride must be in (0, window], got {self.stride} for window {self.window}")
        self.margin = (self.window - self.stride) // 2
        self.sw_batch_size = int(sw_batch_size)
        self.device = torch.device(device)
        self.amp = resolve_amp(amp)
        self.out_channels = int(out_channels)
        self.weight = (
            compute_importance_map((self.window, self.window), BlendMode.GAUSSIAN, sigma_scale, device="cpu")
            .float()
            .clamp_min(1e-3)
            .numpy()
        )

    def _run(self, network: Callable, windows: list[np.ndarray]) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        for i in range(0, len(windows), self.sw_batch_size):
            x = torch.from_numpy(np.stack(windows[i : i + self.sw_batch_size])).to(self.device)
            with torch.inference_mode(), autocast(self.device, self.amp):
                y = network(x)
            out.extend(y.float().cpu().numpy())
        return out

    def bands(
        self, network: Callable, read: Callable[[int, int, int, int], np.ndarray], shape: tuple[int, int]
    ) -> Iterator[np.ndarray]:
        """Yield the translated image as row bands ``(out_channels, stride, columns)`` (the last one shorter).

        Args:
            network: ``(B, C, window, window) -> (B, out_channels, window, window)``.
            read: ``read(y, x, h, w)`` returning the source ``(C, h, w)``; coordinates may reach outside the image
                by up to the margin (the reader pads, e.g. by reflection).
            shape: ``(rows, columns)`` of the image.
        """
        rows, cols = shape
        win, stride, margin = self.window, self.stride, self.margin
        ys = window_starts_1d(rows, win, stride, margin)
        xs = window_starts_1d(cols, win, stride, margin)
        width = xs[-1] + win - xs[0]
        acc = np.zeros((self.out_channels, 0, width), np.float32)
        wsum = np.zeros((0, width), np.float32)
        top = ys[0]  # image row of acc[:, 0]
        emitted = 0  # image rows already yielded
        for k, y in enumerate(ys):
            need = y + win - top
            if acc.shape[1] < need:
                grow = need - acc.shape[1]
                acc = np.concatenate([acc, np.zeros((self.out_channels, grow, width), np.float32)], axis=1)
                wsum = np.concatenate([wsum, np.zeros((grow, width), np.float32)], axis=0)
            strip = read(y, xs[0], win, width)
            windows = [strip[:, :, x - xs[0] : x - xs[0] + win] for x in xs]
            for x, out in zip(xs, self._run(network, windows)):
                r0, c0 = y - top, x - xs[0]
                acc[:, r0 : r0 + win, c0 : c0 + win] += out * self.weight
                wsum[r0 : r0 + win, c0 : c0 + win] += self.weight
            final = ys[k + 1] - top if k + 1 < len(ys) else acc.shape[1]  # rows no later window touches
            final_image_row = min(top + final, rows)
            while emitted + stride <= final_image_row or (k + 1 == len(ys) and emitted < rows):
                h = min(stride, rows - emitted)
                r0 = emitted - top
                band = acc[:, r0 : r0 + h, margin : margin + cols] / wsum[r0 : r0 + h, margin : margin + cols]
                yield band
                emitted += h
            drop = max(0, emitted - top)
            if drop:
                acc, wsum, top = acc[:, drop:], wsum[drop:], top + drop
