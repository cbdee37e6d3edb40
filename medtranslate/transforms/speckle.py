"""Multiplicative speckle noise ``Y = X * (1 + F)`` (seed 001, section 2.1) as a MONAI random transform.

Reflectance confocal (RCM) images carry speckle: a multiplicative noise from the interference of coherent light. The
seed models the observed image as ``Y = X * (1 + F)`` with ``X`` the clean reflectance and ``F`` a zero-mean random
field, and trains its despeckling network on clean grayscale histology (inverted, so tissue is bright as in RCM)
contaminated with such noise. Two distributions of ``G = 1 + F`` (mean 1) are offered:

* ``"gamma"`` (default): ``G ~ Gamma(shape=L, scale=1/L)``, the fully developed speckle of an intensity image
  averaged over ``L`` independent looks (Goodman's model): mean 1, variance ``1/L``. ``L = 1`` is single-look
  (exponential) speckle, the strongest; larger ``L`` is milder.
* ``"rayleigh"``: ``G`` Rayleigh-distributed with scale ``sqrt(2/pi)`` so that its mean is 1 (the amplitude of fully
  developed speckle): variance ``4/pi - 1 ~ 0.27``, fixed.

The noise is drawn on the spatial grid and shared across channels (one physical speckle field). Intensities must be
non-negative (the seed normalises both confocal modes to [0, 1]); ``clip`` keeps the result in ``[0, 1]``.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping

import numpy as np
import torch
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.transforms import MapTransform, RandomizableTransform
from monai.utils.type_conversion import convert_to_dst_type

__all__ = ["RandSpeckle", "RandSpeckled", "SPECKLE_DISTRIBUTIONS", "speckle_factor"]

#: the supported distributions of the multiplicative factor ``1 + F``.
SPECKLE_DISTRIBUTIONS = ("gamma", "rayleigh")


def speckle_factor(
    rng: np.random.RandomState, shape: tuple[int, ...], distribution: str = "gamma", looks: float = 1.0
) -> np.ndarray:
    """Draw the multiplicative factor ``1 + F`` (mean 1) of the speckle model.

    Args:
        rng: the random state.
        shape: spatial shape of the field.
        distribution: ``"gamma"`` (``L``-look intensity speckle) or ``"rayleigh"`` (amplitude speckle).
        looks: number of looks ``L`` of the gamma model (variance ``1/L``); ignored for Rayleigh.

    Returns:
        A float32 array of ``shape`` with mean 1.

    Raises:
        ValueError: on an unknown distribution or ``looks <= 0``.
    """
    if distribution == "gamma":
        if looks <= 0:
            raise ValueError(f"looks must be positive, got {looks}")
        return rng.gamma(shape=looks, scale=1.0 / looks, size=shape).astype(np.float32)
    if distribution == "rayleigh":
        return rng.rayleigh(scale=math.sqrt(2.0 / math.pi), size=shape).astype(np.float32)
    raise ValueError(f"unknown speckle distribution {distribution!r}; choose from {', '.join(SPECKLE_DISTRIBUTIONS)}")


class RandSpeckle(RandomizableTransform):
    """Multiply a channel-first image by a random speckle field ``1 + F`` (see the module docstring).

    Args:
        prob: probability of applying the noise.
        distribution: ``"gamma"`` (default) or ``"rayleigh"``.
        looks: number of looks ``L`` of the gamma model, a number or a ``(min, max)`` range drawn uniformly per call
            (variance ``1/L``: ``L = 1`` exponential, the strongest).
        clip: clip the result to ``[0, 1]`` (the normalised range of the confocal modes).

    Raises:
        ValueError: on an unknown distribution or a non-positive number of looks.
    """

    backend = [torch.Tensor, np.ndarray]

    def __init__(
        self,
        prob: float = 1.0,
        distribution: str = "gamma",
        looks: float | tuple[float, float] = 1.0,
        clip: bool = True,
    ) -> None:
        RandomizableTransform.__init__(self, prob)
        if distribution not in SPECKLE_DISTRIBUTIONS:
            raise ValueError(f"unknown speckle distribution {distribution!r}; choose from {SPECKLE_DISTRIBUTIONS}")
        lo, hi = (float(looks), float(looks)) if np.isscalar(looks) else (float(looks[0]), float(looks[1]))
        if lo <= 0 or hi < lo:
            raise ValueError(f"looks must be positive (a number or a (min, max) range), got {looks}")
        self.distribution = distribution
        self.looks_range = (lo, hi)
        self.clip = clip
        self._factor: np.ndarray | None = None

    def randomize(self, img: NdarrayOrTensor) -> None:  # type: ignore[override]
        """Decide whether to apply the noise and draw its field for ``img``'s spatial shape.

        Args:
            img: the channel-first image.
        """
        super().randomize(None)
        if not self._do_transform:
            return
        looks = self.R.uniform(*self.looks_range) if self.looks_range[1] > self.looks_range[0] else self.looks_range[0]
        self._factor = speckle_factor(self.R, tuple(img.shape[1:]), self.distribution, looks)

    def __call__(self, img: NdarrayOrTensor, randomize: bool = True) -> NdarrayOrTensor:
        """Apply the speckle model.

        Args:
            img: channel-first image with non-negative intensities.
            randomize: draw a new field (``False`` reuses the last one).

        Returns:
            ``img * (1 + F)``, same type and shape.
        """
        if randomize:
            self.randomize(img)
        if not self._do_transform or self._factor is None:
            return img
        factor, *_ = convert_to_dst_type(self._factor[None], img)
        out = img * factor
        if self.clip:
            out = out.clamp(0, 1) if isinstance(out, torch.Tensor) else np.clip(out, 0, 1)
        return out


class RandSpeckled(RandomizableTransform, MapTransform):
    """Dictionary version of :class:`RandSpeckle`; all ``keys`` of an item get the same field.

    Args:
        keys: keys of the images to corrupt (e.g. a copy of the clean image made with ``CopyItemsd``).
        prob: probability of applying the noise.
        distribution: ``"gamma"`` or ``"rayleigh"``.
        looks: number of looks, a number or a ``(min, max)`` range.
        clip: clip to ``[0, 1]``.
        allow_missing_keys: do not fail on missing keys.
    """

    backend = RandSpeckle.backend

    def __init__(
        self,
        keys: KeysCollection,
        prob: float = 1.0,
        distribution: str = "gamma",
        looks: float | tuple[float, float] = 1.0,
        clip: bool = True,
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        self.speckle = RandSpeckle(prob=1.0, distribution=distribution, looks=looks, clip=clip)

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None) -> RandSpeckled:
        """Seed this transform and its inner :class:`RandSpeckle`.

        Args:
            seed: a seed.
            state: a random state.

        Returns:
            self.
        """
        super().set_random_state(seed, state)
        self.speckle.set_random_state(seed, state)
        return self

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        """Corrupt ``keys`` of ``data``.

        Args:
            data: the item.

        Returns:
            A new dict with the noisy images.
        """
        d = dict(data)
        self.randomize(None)
        if not self._do_transform:
            return d
        first = True
        for key in self.key_iterator(d):
            d[key] = self.speckle(d[key], randomize=first)
            first = False
        return d
