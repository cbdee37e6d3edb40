"""Slice-by-slice translation of volumes with a 2D network (MONAI's SliceInferer), for example the 2D CycleGAN of
seed 003 applied to a CT volume, or a 2D baseline applied to an OCT stack."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from monai.inferers import SliceInferer

from medtranslate.errors import ConfigError
from medtranslate.inferers.sliding import VolumeTranslator

__all__ = ["SliceTranslator", "translate_slices"]


class SliceTranslator(VolumeTranslator):
    """Translate a 3D volume one 2D slice at a time along ``axis``; in-plane, slices are tiled with 2D windows.

    Accepts every :class:`VolumeTranslator` option. Volumes are (C, D1, D2, D3) or (N, C, D1, D2, D3); the network
    sees (B, C, *roi_size) slices.

    Args:
        roi_size: the 2D window size in the slice plane (the two axes other than ``axis``, in order).
        axis: the spatial axis slices are taken along: 0, 1 or 2 (0 = first spatial axis).
        kwargs: :class:`VolumeTranslator` arguments (``sw_batch_size`` is the number of slice windows per call).

    Raises:
        ConfigError: when ``roi_size`` is not 2D or ``axis`` is not 0, 1 or 2.
    """

    def __init__(self, roi_size: Sequence[int], axis: int = 0, **kwargs: Any) -> None:
        roi = tuple(int(r) for r in roi_size)
        if len(roi) != 2:
            raise ConfigError(None, f"a slice translator needs a 2D roi_size, got {tuple(roi_size)}")
        if axis not in (0, 1, 2):
            raise ConfigError(None, f"axis must be 0, 1 or 2 (a spatial axis of the volume), got {axis}")
        overlap = kwargs.pop("overlap", 0.5)
        if isinstance(overlap, Sequence):
            overlap = list(overlap)
            if len(overlap) != 2:
                raise ConfigError(None, f"overlap must be one value or two (in-plane), got {overlap}")
            overlap.insert(axis, 0.0)
        sigma = kwargs.pop("sigma_scale", 0.125)
        if isinstance(sigma, Sequence):
            sigma = list(sigma)
            sigma.insert(axis, 1.0)
        full = list(roi)
        full.insert(axis, 1)
        super().__init__(tuple(full), overlap=overlap, sigma_scale=sigma, **kwargs)
        self.axis = axis
        self.slice_roi = roi

    def _inferer(self, sw_device: torch.device, stitch_device: torch.device, sw_batch_size: int) -> SliceInferer:
        kwargs = self._inferer_kwargs(sw_device, stitch_device, sw_batch_size)
        return SliceInferer(spatial_dim=self.axis, **{**kwargs, "roi_size": self.slice_roi})


def translate_slices(
    network: Any, volume: Any, roi_size: Sequence[int], axis: int = 0, sw_batch_size: int = 4, **kwargs: Any
) -> Any:
    """Translate a volume slice by slice with a 2D network (function form of :class:`SliceTranslator`).

    Args:
        network: a 2D generator mapping (B, C, H, W) to (B, C', H, W).
        volume: (C, D1, D2, D3) or (N, C, D1, D2, D3) tensor / MetaTensor / numpy array.
        roi_size: 2D window in the slice plane.
        axis: the slicing axis among the three spatial axes.
        sw_batch_size: slice windows per network call.
        kwargs: other :class:`VolumeTranslator` options (``device``, ``stitch_device``, ``amp``, ``overlap`` ...).

    Returns:
        The translated volume, same layout and kind as ``volume``.
    """
    return SliceTranslator(roi_size, axis=axis, sw_batch_size=sw_batch_size, **kwargs)(network, volume)
