"""Mixed precision: parse the ``amp`` option, open autocast on any device, build a GradScaler for fp16 only."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from medtranslate.errors import ConfigError

__all__ = ["resolve_amp", "autocast", "make_grad_scaler"]

_AMP_NAMES = {
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
    "fp16": torch.float16,
    "float16": torch.float16,
    "half": torch.float16,
}
_OFF_NAMES = {"", "none", "no", "off", "false", "fp32", "float32"}


def resolve_amp(amp: str | bool | torch.dtype | None) -> torch.dtype | None:
    """Turn the user's ``amp`` option into an autocast dtype.

    Args:
        amp: ``"bf16"``, ``"fp16"``, ``"none"``/``None``/``False``, a torch dtype, or ``True`` (meaning fp16, as in
            MONAI's boolean ``amp``).

    Returns:
        ``torch.bfloat16``, ``torch.float16`` or ``None`` (full precision).

    Raises:
        ConfigError: for any other value.
    """
    if amp is None or amp is False:
        return None
    if amp is True:
        return torch.float16
    if isinstance(amp, torch.dtype):
        if amp in (torch.bfloat16, torch.float16):
            return amp
        if amp == torch.float32:
            return None
    if isinstance(amp, str):
        name = amp.strip().lower()
        if name in _OFF_NAMES:
            return None
        if name in _AMP_NAMES:
            return _AMP_NAMES[name]
    raise ConfigError(None, f"amp must be one of bf16, fp16 or none, not {amp!r}")


@contextlib.contextmanager
def autocast(device: torch.device | str, dtype: torch.dtype | None) -> Iterator[None]:
    """Autocast on ``device`` when ``dtype`` is set, otherwise do nothing.

    Args:
        device: the device the step runs on (its type picks the autocast backend: cuda, cpu, ...).
        dtype: the reduced precision type, or ``None`` for full precision.
    """
    if dtype is None:
        yield
        return
    with torch.autocast(device_type=torch.device(device).type, dtype=dtype):
        yield


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
