"""Pick the scalar losses out of a trainer's ``engine.state.output`` (for logs, plots and progress bars)."""

from __future__ import annotations

import numbers
from typing import Any

import torch

__all__ = ["loss_scalars"]


def loss_scalars(output: Any, prefix: str = "loss") -> dict[str, float]:
    """Every ``loss*`` entry of a trainer output that is a number or a one-element tensor.

    Args:
        output: ``engine.state.output``: a dict, or a decollated list of dicts (the first item is used).
        prefix: keys starting with this are kept.

    Returns:
        name -> float (empty when the output holds no losses).
    """
    if isinstance(output, (list, tuple)):
        output = output[0] if output else {}
    if not isinstance(output, dict):
        return {}
    out = {}
    for key, value in output.items():
        if not str(key).startswith(prefix):
            continue
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            out[str(key)] = float(value.detach().item())
        elif isinstance(value, numbers.Number) and not isinstance(value, bool):
            out[str(key)] = float(value)
    return out
