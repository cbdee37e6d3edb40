"""Mixed precision options: the one parser of ``amp`` (training and inference), and autocast on any device.

``amp="auto"`` (the bundles' default) picks bf16 where the hardware computes it natively and fp32 elsewhere:

- CPU: the AMX-BF16 or AVX512-BF16 instructions (``amx_bf16`` / ``avx512_bf16`` in ``/proc/cpuinfo``, or torch's
  own CPU probe); without them oneDNN emulates bf16 and is slower than fp32.
- CUDA: compute capability 8.0 or newer (A100, H100, H200, RTX 30xx and later).

The choice is logged once per device. ``amp="fp32"`` (or ``"none"``) is full precision wherever it runs.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator

import torch

from medtranslate.errors import ConfigError

__all__ = ["resolve_amp", "autocast", "native_bf16", "AMP_NAMES", "AUTO"]

logger = logging.getLogger(__name__)

#: the option value that lets the hardware decide (bf16 where native, else fp32)
AUTO = "auto"
_CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")

#: accepted spellings of a reduced precision (anything in ``_OFF_NAMES`` means full precision).
AMP_NAMES = {
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
    "fp16": torch.float16,
    "float16": torch.float16,
    "half": torch.float16,
}
_OFF_NAMES = {"", "none", "no", "off", "false", "fp32", "float32"}


def _cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> set[str]:
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


@functools.cache
def _native_bf16(device_type: str, index: int | None) -> tuple[bool, str]:
    if device_type == "cpu":
        found = sorted(_cpu_flags() & set(_CPU_BF16_FLAGS))
        if not found and getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)():
            found = ["avx512_bf16"]
        if not found and getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)():
            found = ["amx"]
        return bool(found), ", ".join(found) or "no AMX/AVX512-BF16"
    if device_type == "cuda" and torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability(index)
        name = torch.cuda.get_device_name(index)
        return major >= 8, f"{name}, compute capability {major}.{minor}"
    return False, f"no native bf16 known for {device_type}"


def native_bf16(device: torch.device | str = "cpu") -> bool:
    """Whether ``device`` computes bf16 natively (so that autocast to bf16 is faster than fp32).

    Args:
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...

    Returns:
        ``True`` for CPUs with AMX-BF16 or AVX512-BF16 and CUDA devices of compute capability >= 8.0.
    """
    d = torch.device(device)
    return _native_bf16(d.type, d.index)[0]


@functools.cache
def _log_auto(device_type: str, index: int | None, chosen: str) -> None:
    reason = _native_bf16(device_type, index)[1]
    logger.info("amp auto on %s: %s (%s); amp='fp32' forces full precision", device_type, chosen, reason)


def resolve_amp(amp: str | bool | torch.dtype | None, device: torch.device | str | None = None) -> torch.dtype | None:
    """Turn the user's ``amp`` option into an autocast dtype.

    Args:
        amp: ``"auto"`` (bf16 where ``device`` computes it natively, else full precision), ``"bf16"``, ``"fp16"``,
            ``"fp32"``/``"none"``/``None``/``False``, a torch dtype, or ``True`` (meaning fp16, as in MONAI's
            boolean ``amp``).
        device: the device the computation runs on (for ``"auto"``; default CPU).

    Returns:
        ``torch.bfloat16``, ``torch.float16`` or ``None`` (full precision).

    Raises:
        ConfigError: for any other value.
    """
    if isinstance(amp, str) and amp.strip().lower() == AUTO:
        d = torch.device(device if device is not None else "cpu")
        dtype = torch.bfloat16 if native_bf16(d) else None
        _log_auto(d.type, d.index, "bf16" if dtype is not None else "fp32")
        return dtype
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
    raise ConfigError(None, f"amp must be one of auto, bf16, fp16 or fp32 (none), not {amp!r}")


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
