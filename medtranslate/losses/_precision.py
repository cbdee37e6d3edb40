"""Helpers that keep loss arithmetic in float32 under autocast."""

from __future__ import annotations

from contextlib import AbstractContextManager

import torch

__all__ = ["float32_region", "last_output"]


def float32_region(t: torch.Tensor) -> AbstractContextManager:
    """A context in which autocast is off for ``t``'s device, so losses are computed in the dtype they are given.

    Args:
        t: a tensor on the device the loss runs on.

    Returns:
        ``torch.autocast(device_type, enabled=False)``; callers cast their inputs with ``.float()`` inside it.
    """
    return torch.autocast(device_type=t.device.type, enabled=False)


def last_output(out: torch.Tensor | list | tuple) -> torch.Tensor:
    """The logits of a discriminator output: the tensor itself, or the last element of a list / tuple.

    MONAI's ``PatchDiscriminator`` returns the intermediate features followed by the logits.

    Args:
        out: a tensor or a (possibly nested) list / tuple whose last element is the logits.

    Returns:
        The logits tensor.

    Raises:
        TypeError: when no tensor is found.
    """
    while isinstance(out, (list, tuple)):
        if not out:
            raise TypeError("empty discriminator output")
        out = out[-1]
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"expected a tensor or a list of tensors, got {type(out).__name__}")
    return out
