"""Mixed precision for training: a GradScaler for fp16 only (the ``amp`` parser is :mod:`medtranslate.utils.amp`)."""

from __future__ import annotations

import torch

from medtranslate.utils.amp import autocast, resolve_amp

__all__ = ["resolve_amp", "autocast", "make_grad_scaler"]


def make_grad_scaler(device: torch.device | str, dtype: torch.dtype | None) -> torch.amp.GradScaler | None:
    """A loss scaler when (and only when) training in fp16; bf16 has fp32's range and needs none.

    Args:
        device: the training device.
        dtype: the autocast dtype from :func:`resolve_amp`.

    Returns:
        A ``torch.amp.GradScaler`` for fp16, else ``None``.
    """
    if dtype != torch.float16:
        return None
    return torch.amp.GradScaler(torch.device(device).type)
