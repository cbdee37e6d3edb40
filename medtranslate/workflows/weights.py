"""Loading one network's weights from a trainer checkpoint for inference (``weights_only=True``, no engines import)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch
from torch import nn

from medtranslate.errors import InputError

__all__ = ["load_checkpoint_network", "newest_checkpoint"]


def newest_checkpoint(path: str | os.PathLike) -> Path:
    """A checkpoint file as given, or the newest ``checkpoint_<iteration>.pt`` of a folder.

    Args:
        path: file or folder.

    Returns:
        The file.

    Raises:
        InputError: when nothing fitting exists.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "checkpoint not found (train the bundle first, or pass --checkpoint FILE)")
    if path.is_file():
        return path
    found = sorted(
        (int(m.group(1)), p)
        for p in path.glob("checkpoint_*.pt")
        if (m := re.fullmatch(r"checkpoint_(\d+)\.pt", p.name))
    )
    if not found:
        raise InputError(path, "holds no checkpoint_*.pt file")
    return found[-1][1]


def load_checkpoint_network(net: nn.Module, checkpoint: str | os.PathLike, key: str) -> Path:
    """Load ``checkpoint[key]`` (a state dict) into ``net``.

    Args:
        net: the network.
        checkpoint: a checkpoint file or folder.
        key: the network's key (``"network"`` for the supervised trainer, ``"g_ab"`` for a CycleGAN generator).

    Returns:
        The file loaded.

    Raises:
        InputError: when the file is unreadable, lacks ``key`` or its shapes differ from ``net``'s.
    """
    path = newest_checkpoint(checkpoint)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for broken files
        raise InputError(path, f"cannot be read as a checkpoint ({' '.join(str(e).split())[:200]})") from e
    if not isinstance(state, dict) or key not in state:
        keys = ", ".join(sorted(state)) if isinstance(state, dict) else type(state).__name__
        raise InputError(path, f"holds no network {key!r} (it has: {keys})")
    try:
        net.load_state_dict(state[key])
    except RuntimeError as e:
        raise InputError(path, f"weights of {key!r} do not fit this network ({str(e).splitlines()[0]})") from e
    return path
