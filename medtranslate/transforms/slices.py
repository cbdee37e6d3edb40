"""2D training slices from 3D volumes: foreground slice selection, and input checks inside a transform chain.

Seed 003 trains a 2D CycleGAN on slices; users hold CT and MR volumes. :class:`RandForegroundSliced` draws one slice
of a (normalised) volume along a chosen axis, skipping empty background slices (those whose fraction of voxels above
the background level is below ``min_foreground``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Mapping
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Randomizable

from medtranslate.errors import ConfigError, InputError

__all__ = ["foreground_fractions", "foreground_slices", "RandForegroundSliced", "Checkd"]


def foreground_fractions(volume: Any, axis: int, background: float = -0.95) -> np.ndarray:
    """Fraction of voxels above ``background`` in each slice of ``volume`` along spatial ``axis``.

    Args:
        volume: (C, D1, D2, D3) tensor or array (a voxel counts when any channel is above the level).
        axis: spatial axis (0, 1 or 2).
        background: background level (in the volume's values; -0.95 suits [-1, 1] images).

    Returns:
        (n_slices,) float array.
    """
    t = volume.as_tensor() if hasattr(volume, "as_tensor") else torch.as_tensor(np.asarray(volume))
    fg = (t > background).any(dim=0)
    return fg.movedim(axis, 0).flatten(1).float().mean(1).cpu().numpy()


def foreground_slices(volume: Any, axis: int, min_foreground: float = 0.05, background: float = -0.95) -> np.ndarray:
    """Indices of the slices whose foreground fraction is at least ``min_foreground``.

    Args:
        volume: (C, D1, D2, D3) tensor or array.
        axis: spatial axis.
        min_foreground: the threshold fraction in [0, 1].
        background: background level.

    Returns:
        Sorted slice indices (possibly empty).
    """
    return np.flatnonzero(foreground_fractions(volume, axis, background) >= min_foreground)


class RandForegroundSliced(Randomizable, MapTransform):
    """Replace each 3D volume ``(C, D1, D2, D3)`` by one random non-empty 2D slice ``(C, H, W)`` along ``axis``.

    All keys get the same slice index (paired images stay paired). The slice is drawn uniformly among the slices of
    the first key whose foreground fraction is at least ``min_foreground``. 2D inputs pass unchanged.

    Args:
        keys: keys to slice.
        axis: spatial axis the slices are taken along (2 = axial for RAS-ordered CT/MR volumes).
        min_foreground: skip slices with a smaller fraction of voxels above ``background``.
        background: background level in the (normalised) values.
        allow_missing_keys: skip missing keys.

    Raises:
        ConfigError: on a bad axis or threshold.
    """

    def __init__(
        self,
        keys: KeysCollection,
        axis: int = 2,
        min_foreground: float = 0.05,
        background: float = -0.95,
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        if axis not in (0, 1, 2):
            raise ConfigError(None, f"slice axis must be 0, 1 or 2, got {axis}")
        if not 0.0 <= float(min_foreground) <= 1.0:
            raise ConfigError(None, f"min_foreground must be in [0, 1], got {min_foreground}")
        self.axis = axis
        self.min_foreground = float(min_foreground)
        self.background = float(background)
        self._index = 0

    def randomize(self, candidates: np.ndarray) -> None:
        """Draw the slice index among ``candidates``.

        Args:
            candidates: the eligible slice indices.
        """
        self._index = int(candidates[self.R.randint(len(candidates))])

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        """Slice every key at one random foreground slice.

        Args:
            data: the item.

        Returns:
            The item with 2D ``(C, H, W)`` tensors.

        Raises:
            InputError: when a volume has no slice with enough foreground (an empty or all-background image).
        """
        d = dict(data)
        keys = [k for k in self.key_iterator(d)]
        if not keys or d[keys[0]].ndim != 4:
            return d
        first = d[keys[0]]
        candidates = foreground_slices(first, self.axis, self.min_foreground, self.background)
        if candidates.size == 0:
            meta = getattr(first, "meta", {}) or {}
            raise InputError(
                meta.get("filename_or_obj"),
                f"has no slice along axis {self.axis} with at least {self.min_foreground:.0%} foreground "
                f"(values above {self.background:g} after normalisation): an empty image or a wrong intensity window",
            )
        self.randomize(candidates)
        for key in keys:
            img = d[key]
            t = img.as_tensor() if hasattr(img, "as_tensor") else torch.as_tensor(np.asarray(img))
            d[key] = t.select(1 + self.axis, self._index).contiguous()
        return d


class Checkd(MapTransform):
    """Run an input check (``check(image, name) -> warnings``) on each key inside a transform chain.

    The check raises :class:`~medtranslate.errors.InputError` naming the file, so a bad training image stops the
    run with one line saying which file and why. Warnings are logged.

    Args:
        keys: keys to check (loaded images).
        check: e.g. :class:`~medtranslate.transforms.ModalityCheck`.
        allow_missing_keys: skip missing keys.
    """

    def __init__(self, keys: KeysCollection, check: Callable[..., list[str]], allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        self.check = check

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        """Check every key.

        Args:
            data: the item.

        Returns:
            The item, unchanged.
        """
        d = dict(data)
        for key in self.key_iterator(d):
            meta = getattr(d[key], "meta", {}) or {}
            for w in self.check(d[key], meta.get("filename_or_obj")) or []:
                logging.getLogger(__name__).warning(w)
        return d
