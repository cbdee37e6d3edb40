"""Python, NumPy and torch random states as tensors and plain types, so ``torch.load(weights_only=True)`` reads them."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

__all__ = ["get_rng_state", "set_rng_state"]


def get_rng_state() -> dict[str, Any]:
    """Capture every global random state a training step can draw from.

    Returns:
        ``{"python": tuple, "numpy": {...}, "torch": ByteTensor, "cuda": [ByteTensor, ...]}``; the NumPy key array is
        stored as an int64 tensor because ``weights_only`` loading refuses NumPy arrays.
    """
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64).copy()),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
        "cuda": [],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _as_python_state(value: Any) -> Any:
    # a checkpoint may have turned the inner tuples into lists; random.setstate needs tuples
    if isinstance(value, (list, tuple)):
        return tuple(_as_python_state(v) for v in value)
    return value


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore states captured by :func:`get_rng_state` (missing parts are left alone).

    Args:
        state: the dict returned by :func:`get_rng_state`, possibly after a save/load round trip.
    """
    if "python" in state:
        random.setstate(_as_python_state(state["python"]))
    if "numpy" in state:
        n = state["numpy"]
        keys = n["keys"].numpy() if isinstance(n["keys"], torch.Tensor) else np.asarray(n["keys"])
        np.random.set_state(
            (n["kind"], keys.astype(np.uint32), int(n["pos"]), int(n["has_gauss"]), float(n["cached_gaussian"]))
        )
    if "torch" in state:
        torch.set_rng_state(state["torch"].cpu())
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda[: torch.cuda.device_count()]])
