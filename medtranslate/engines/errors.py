"""The error a training run stops with when it cannot go on (non-finite loss, out of memory, bad resume)."""

from __future__ import annotations

from medtranslate.errors import MedTranslateError

__all__ = ["TrainingError"]


class TrainingError(MedTranslateError):
    """Training cannot continue; the message says why and what to change.

    Args:
        path: the checkpoint or folder the problem concerns, or ``None``.
        problem: one sentence saying what went wrong and what to do.
    """
