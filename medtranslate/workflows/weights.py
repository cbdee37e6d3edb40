"""Loading one network's weights from a trainer checkpoint (file or folder) for inference, through
:mod:`medtranslate.modelio` (``weights_only=True``; inference never imports engines)."""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from medtranslate.errors import InputError
from medtranslate.modelio import load_network, resolve_checkpoint

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
    found = resolve_checkpoint(path)
    if found is None:
        raise InputError(path, "holds no checkpoint_*.pt file")
    return found


def load_checkpoint_network(net: nn.Module, checkpoint: str | os.PathLike, key: str) -> Path:
    """Load ``checkpoint[key]`` into ``net``.

    Args:
        net: the network.
        checkpoint: a checkpoint file or folder.
        key: the network's key (``"network"`` for the supervised trainer, ``"g_ab"`` for a CycleGAN generator).

    Returns:
        The file loaded.

    Raises:
        InputError: when the file is missing or unreadable, lacks ``key`` or its shapes differ from ``net``'s.
    """
    path = newest_checkpoint(checkpoint)
    load_network(
        net, path, key, hint="set the network size keys (e.g. despeckle_channels, gen_channels) it was trained with"
    )
    return path
