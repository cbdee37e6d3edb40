"""Mixed precision options: the one parser of ``amp`` (training and inference), and autocast on any device."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from medtranslate.errors import ConfigError

__all__ = ["resolve_amp", "autocast", "AMP_NAMES"]

#: accepted spellings of a reduced precision (anything in ``_OFF_NAMES`` means full precision).
AMP_NAMES = {
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
        if name in AMP_NAMES:
            return AMP_NAMES[name]
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
