"""Turn an out-of-memory failure inside a training step into one line naming the patch and batch size to lower."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Mapping
from typing import Any

import torch

from medtranslate.engines.errors import TrainingError

__all__ = ["is_out_of_memory", "out_of_memory_error", "report_out_of_memory"]


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is a device or host allocation failure.

    Args:
        exc: the exception raised by the step.

    Returns:
        ``True`` for ``torch.OutOfMemoryError`` and the allocator's "out of memory"/"can't allocate" errors.
    """
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def _batch_shape(batch: Any) -> tuple[int, tuple[int, ...]] | None:
    if isinstance(batch, torch.Tensor) and batch.ndim >= 3:
        return int(batch.shape[0]), tuple(int(s) for s in batch.shape[2:])
    if isinstance(batch, Mapping):
        for value in batch.values():
            found = _batch_shape(value)
            if found:
                return found
    if isinstance(batch, (list, tuple)):
        for value in batch:
            found = _batch_shape(value)
            if found:
                return found
    return None


def out_of_memory_error(exc: BaseException, batch: Any, device: torch.device | str | None) -> TrainingError:
    """The error to raise instead of a raw OOM: it names the device, the patch size and the batch size.

    Args:
        exc: the original out-of-memory exception.
        batch: the batch that was being processed (its first image tensor gives the sizes).
        device: the training device.

    Returns:
        A :class:`TrainingError` with advice.
    """
    shape = _batch_shape(batch)
    where = "GPU" if device is not None and torch.device(device).type == "cuda" else "host"
    if shape:
        size = "x".join(str(s) for s in shape[1])
        what = f"at patch size {size} with batch size {shape[0]}"
        advice = f"lower the patch size (now {size}) or the batch size (now {shape[0]})"
    else:
        what, advice = "in a training step", "lower the patch size or the batch size"
    return TrainingError(
        None,
        f"out of {where} memory on {device} {what}: {advice}, or use amp bf16/fp16 or gradient accumulation "
        f"({type(exc).__name__})",
    )


@contextlib.contextmanager
def report_out_of_memory(batch: Any, device: torch.device | str | None) -> Iterator[None]:
    """Re-raise an out-of-memory failure inside the block as :func:`out_of_memory_error`; free the cache first.

    Args:
        batch: the batch the block processes.
        device: the training device.

    Raises:
        TrainingError: on an out-of-memory failure.
    """
    try:
        yield
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
        error = out_of_memory_error(exc, batch, device)
        del exc
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        raise error from None
