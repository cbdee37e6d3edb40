"""Unpaired A/B training data: each A item meets a B item drawn at random every epoch, reproducibly from a seed."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.data import CacheDataset, Dataset, PersistentDataset
from monai.data.utils import set_rnd
from monai.transforms import RandSpatialCrop, SpatialPad

from medtranslate.errors import ConfigError, InputError

__all__ = ["UnpairedDataset"]

_CACHE_MODES = ("none", "memory", "disk")


def _base_dataset(
    data: Sequence | torch.utils.data.Dataset,
    transform: Callable | None,
    cache: str,
    cache_dir: str | os.PathLike | None,
    num_workers: int,
    domain: str,
) -> torch.utils.data.Dataset:
    if isinstance(data, torch.utils.data.Dataset):
        return data
    data = list(data)
    if not data:
        raise InputError(None, f"domain {domain} of the unpaired dataset has no items")
    if cache == "memory":
        return CacheDataset(data, transform=transform, cache_rate=1.0, num_workers=num_workers, progress=False)
    if cache == "disk":
        if cache_dir is None:
            raise ConfigError(None, "cache='disk' needs a cache_dir")
        return PersistentDataset(data, transform=transform, cache_dir=os.path.join(os.fspath(cache_dir), domain))
    return Dataset(data, transform=transform)


class UnpairedDataset(torch.utils.data.Dataset):
    """Items ``{keys[0]: image_A, keys[1]: image_B}`` for unpaired (CycleGAN) training.

    Item ``i`` is A's ``i``-th image and a B image drawn at random; the draw, the random transforms and the patch
    position are functions of ``(seed, epoch, i)`` only. So an epoch is the same whatever the number of workers or
    processes, and a resumed run sees exactly the items the uninterrupted one would have (the trainers call
    :meth:`set_epoch` at every epoch start).

    Loading runs in two parts. ``transform_a``/``transform_b`` are the deterministic part (load, orient, scale to
    [-1, 1]); with ``cache="memory"`` or ``"disk"`` their results are kept by MONAI's ``CacheDataset`` or
    ``PersistentDataset``. ``random_transform_a``/``random_transform_b`` (flips, zooms, ...) are re-seeded for
    every item. Finally a ``patch_size`` patch is cut at a random position; ``-1`` keeps an axis whole, so with the
    depth first a depth-9 slab of whole B-scans is ``(9, -1, -1)`` (seed 000's OCT stacks). Images smaller than the
    patch are padded with ``pad_value`` (-1, the background in [-1, 1]).

    Args:
        data_a: domain A items (datalist dicts such as ``{"image": path}``, arrays, tensors) or a ready dataset.
        data_b: domain B items or dataset.
        transform_a: deterministic transform of A items (cached).
        transform_b: deterministic transform of B items (cached); default ``transform_a``.
        random_transform_a: random transform of A items, re-seeded per item.
        random_transform_b: random transform of B items; default ``random_transform_a``.
        patch_size: spatial patch size (``-1`` = whole axis), or ``None`` for whole images.
        image_key: key of the image in dict items.
        keys: output keys of the A and B images.
        seed: seed of the pairing, the random transforms and the patch positions.
        cache: ``"none"``, ``"memory"`` (``CacheDataset``) or ``"disk"`` (``PersistentDataset``).
        cache_dir: folder of the disk cache.
        cache_num_workers: threads that fill the memory cache.
        length: ``"a"``: one item per A image (each A image once per epoch); ``"max"``: ``max(len(A), len(B))``
            items, A images repeating.
        pad_value: value of the padding for images smaller than the patch.

    Raises:
        ConfigError: for a bad cache mode, length or patch size.
        InputError: when a domain has no items.
    """

    def __init__(
        self,
        data_a: Sequence | torch.utils.data.Dataset,
        data_b: Sequence | torch.utils.data.Dataset,
        transform_a: Callable | None = None,
        transform_b: Callable | None = None,
        random_transform_a: Callable | None = None,
        random_transform_b: Callable | None = None,
        patch_size: Sequence[int] | None = None,
        image_key: str = "image",
        keys: Sequence[str] = ("A", "B"),
        seed: int = 0,
        cache: str = "none",
        cache_dir: str | os.PathLike | None = None,
        cache_num_workers: int = 0,
        length: str = "a",
        pad_value: float = -1.0,
    ) -> None:
        if cache not in _CACHE_MODES:
            raise ConfigError(None, f"cache must be one of {_CACHE_MODES}, not {cache!r}")
        if length not in ("a", "max"):
            raise ConfigError(None, f"length must be 'a' or 'max', not {length!r}")
        transform_b = transform_a if transform_b is None else transform_b
        self.base_a = _base_dataset(data_a, transform_a, cache, cache_dir, cache_num_workers, "A")
        self.base_b = _base_dataset(data_b, transform_b, cache, cache_dir, cache_num_workers, "B")
        if len(self.base_a) == 0 or len(self.base_b) == 0:
            raise InputError(
                None,
                f"the unpaired dataset needs images in both domains (A: {len(self.base_a)}, B: {len(self.base_b)})",
            )
        self.random_transform_a = random_transform_a
        self.random_transform_b = random_transform_a if random_transform_b is None else random_transform_b
        self.image_key = image_key
        self.keys = tuple(keys)
        self.seed = int(seed)
        self.length = length
        self.pad_value = float(pad_value)
        self.epoch = 0
        self.patch_size: tuple[int, ...] | None = None
        self.set_patch_size(patch_size)

    def __len__(self) -> int:
        n_a = len(self.base_a)
        return n_a if self.length == "a" else max(n_a, len(self.base_b))

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose pairing and random draws the items follow.

        Args:
            epoch: the epoch number (the trainers pass ignite's 1-based epoch).
        """
        self.epoch = int(epoch)

    def set_patch_size(self, patch_size: Sequence[int] | None) -> None:
        """Change the patch size (progressive training); ``None`` returns whole images.

        Args:
            patch_size: spatial size, ``-1`` for a whole axis.

        Raises:
            ConfigError: for an empty size or a zero entry.
        """
        if patch_size is None:
            self.patch_size = None
            return
        size = tuple(int(s) for s in patch_size)
        if not size or any(s == 0 or s < -1 for s in size):
            raise ConfigError(None, f"patch_size must hold positive sizes or -1, got {list(patch_size)}")
        self.patch_size = size

    def _seed(self, index: int, stream: int) -> int:
        return int(np.random.SeedSequence([self.seed, self.epoch, index, stream]).generate_state(1)[0])

    def partner_index(self, index: int) -> int:
        """The B item paired with item ``index`` in the current epoch.

        Args:
            index: the item index.

        Returns:
            An index into domain B.
        """
        return int(np.random.default_rng(self._seed(index, 2)).integers(len(self.base_b)))

    def _image(self, item: Any) -> torch.Tensor:
        image = item[self.image_key] if isinstance(item, Mapping) else item
        return image if isinstance(image, torch.Tensor) else torch.as_tensor(np.asarray(image))

    def _draw(self, base: torch.utils.data.Dataset, index: int, transform: Callable | None, seed: int) -> torch.Tensor:
        item = base[index]
        if transform is not None:
            set_rnd(transform, seed)
            item = transform(item)
        image = self._image(item)
        if self.patch_size is None:
            return image
        if image.ndim - 1 != len(self.patch_size):
            raise ConfigError(
                None,
                f"patch_size {list(self.patch_size)} has {len(self.patch_size)} axes but the images have "
                f"{image.ndim - 1} spatial axes (shape {tuple(image.shape)}, channel first)",
            )
        image = SpatialPad(self.patch_size, value=self.pad_value)(image)
        crop = RandSpatialCrop(self.patch_size, random_size=False)
        crop.set_random_state(seed=(seed + 1) % (2**32))
        return crop(image)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        """The A image ``index`` (modulo ``len(A)``) and its partner B image of this epoch.

        Args:
            index: the item index.

        Returns:
            ``{keys[0]: A, keys[1]: B}``, channel-first tensors.
        """
        a = self._draw(self.base_a, index % len(self.base_a), self.random_transform_a, self._seed(index, 0))
        b = self._draw(self.base_b, self.partner_index(index), self.random_transform_b, self._seed(index, 1))
        return {self.keys[0]: a, self.keys[1]: b}
