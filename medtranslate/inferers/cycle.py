"""Cycle-consistency trust maps: ``|G_BA(G_AB(x)) - x|`` per voxel, on the input's grid.

Where the round trip does not come back to the input, the forward translation is not backed by the learned cycle:
regions to trust less. The map is in the input's value units (for [-1, 1] inputs, 2 is the largest possible error).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor

from medtranslate.errors import InputError
from medtranslate.inferers.sliding import VolumeTranslator

__all__ = ["CycleResult", "cycle_consistency"]


@dataclass
class CycleResult:
    """Results of a forward translation and its round trip, all on the input's grid.

    Args:
        translated: ``G_AB(x)``.
        reconstructed: ``G_BA(G_AB(x))``, with the channels of ``x``.
        error: ``|reconstructed - x|`` averaged over channels, one channel: (1, *spatial) or (N, 1, *spatial).
    """

    translated: Any
    reconstructed: Any
    error: Any


def cycle_consistency(
    g_ab: Callable, g_ba: Callable, volume: Any, translator: VolumeTranslator, name: str | None = None
) -> CycleResult:
    """Translate ``volume`` with ``g_ab``, back with ``g_ba``, and map the per-voxel round-trip error.

    Args:
        g_ab: forward generator (A -> B).
        g_ba: backward generator (B -> A).
        volume: (C, *spatial) or (N, C, *spatial) tensor / MetaTensor / numpy array in domain A.
        translator: a :class:`VolumeTranslator` or :class:`SliceTranslator` used for both passes.
        name: the volume's file name for error messages.

    Returns:
        A :class:`CycleResult` whose members have the kind of ``volume`` (MetaTensors keep the metadata).

    Raises:
        InputError: when the reconstruction does not have the input's shape (``g_ba`` outputs another channel count).
    """
    translated = translator(g_ab, volume, name)
    reconstructed = translator(g_ba, translated, name)
    if tuple(reconstructed.shape) != tuple(volume.shape):
        raise InputError(
            name, f"the reconstruction has shape {tuple(reconstructed.shape)}, the input {tuple(volume.shape)}"
        )
    channel_axis = len(volume.shape) - translator.spatial_dims - 1
    if isinstance(volume, np.ndarray):
        error = np.abs(reconstructed - volume.astype(np.float32)).mean(axis=channel_axis, keepdims=True)
    else:
        rec = reconstructed.as_tensor() if isinstance(reconstructed, MetaTensor) else reconstructed
        src = volume.as_tensor() if isinstance(volume, MetaTensor) else volume
        error = (rec - src.to(rec.device, torch.float32)).abs().mean(dim=channel_axis, keepdim=True)
        if isinstance(volume, MetaTensor):
            error = MetaTensor(error, meta=dict(volume.meta), applied_operations=list(volume.applied_operations))
    return CycleResult(translated, reconstructed, error)
