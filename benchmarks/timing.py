"""Timing shared by the benchmark scripts (imported as ``timing`` when a script runs as ``python benchmarks/X.py``)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

__all__ = ["median_seconds"]


def median_seconds(fn: Callable[[], object], warmup: int = 1, repeat: int = 5) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeat`` calls, after ``warmup`` untimed ones.

    Args:
        fn: what to time.
        warmup: untimed calls first (compilation, caches, allocator).
        repeat: timed calls.

    Returns:
        The median seconds per call.
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
