"""Loading one network's weights from a trainer checkpoint (file or folder) for inference, through
:mod:`medtranslate.modelio` (``weights_only=True``; inference never imports engines)."""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from medtranslate.modelio import find_checkpoint, load_network

__all__ = ["load_checkpoint_network"]


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
    path = find_checkpoint(checkpoint)
    load_network(
        net, path, key, hint="set the network size keys (e.g. despeckle_channels, gen_channels) it was trained with"
    )
    return path
