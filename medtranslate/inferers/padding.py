"""Pad a volume up to the window size and crop the result back, for stacks shallower than the window depth.

Reflection here works for any pad width (it mirrors repeatedly, like numpy's ``reflect``): torch's ``F.pad`` reflect
mode needs the pad to be smaller than the axis, which a 3-slice stack in a 9-deep window breaks, and MONAI's Pad
registry has no reflection padding at all.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = ["PAD_MODES", "reflect_indices", "pad_to_roi", "crop_back"]

PAD_MODES = ("reflect", "replicate", "constant")


def reflect_indices(size: int, before: int, after: int, device: torch.device | None = None) -> torch.Tensor:
    """Indices that mirror an axis of length ``size`` (edge not repeated) to ``before + size + after`` entries.

    Args:
        size: length of the axis.
        before: entries added in front.
        after: entries added at the end.
        device: device of the returned index tensor.
    """
    idx = torch.arange(-before, size + after, device=device)
    if size == 1:
        return torch.zeros_like(idx)
    period = 2 * (size - 1)
    idx = torch.remainder(idx, period)
    return torch.where(idx >= size, period - idx, idx)


def pad_to_roi(
    x: torch.Tensor, roi_size: Sequence[int], mode: str = "reflect", cval: float = -1.0
) -> tuple[torch.Tensor, list[tuple[int, int]]]:
    """Pad every spatial axis of ``x`` (N, C, *spatial) that is shorter than ``roi_size``, half before, half after.

    Args:
        x: batch-first, channel-first tensor.
        roi_size: the window size, one entry per spatial axis (entries <= 0 mean "whole axis": never padded).
        mode: "reflect" (mirror, any width), "replicate" (repeat the edge) or "constant" (``cval``).
        cval: the fill value of "constant" (-1, the background in [-1, 1]).

    Returns:
        The padded tensor and ``[(before, after)]`` per spatial axis, for :func:`crop_back`.
    """
    pads: list[tuple[int, int]] = []
    for size, roi in zip(x.shape[2:], roi_size):
        diff = max(int(roi) - int(size), 0)
        pads.append((diff // 2, diff - diff // 2))
    if not any(b or a for b, a in pads):
        return x, pads
    if mode == "constant":
        flat = [p for b, a in reversed(pads) for p in (b, a)]
        return F.pad(x, flat, mode="constant", value=float(cval)), pads
    for axis, (before, after) in enumerate(pads):
        if before or after:
            size = x.shape[axis + 2]
            if mode == "reflect":
                idx = reflect_indices(size, before, after, device=x.device)
            else:
                idx = torch.arange(-before, size + after, device=x.device).clamp(0, size - 1)
            x = x.index_select(axis + 2, idx)
    return x, pads


def crop_back(y: torch.Tensor, pads: Sequence[tuple[int, int]]) -> torch.Tensor:
    """Undo :func:`pad_to_roi` on an output with the same spatial size as the padded input.

    Args:
        y: (N, C', *spatial) output.
        pads: the ``[(before, after)]`` list returned by :func:`pad_to_roi`.
    """
    index = [slice(None), slice(None)]
    for (before, after), size in zip(pads, y.shape[2:]):
        index.append(slice(before, size - after))
    return y[tuple(index)]
