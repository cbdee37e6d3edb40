"""Registered A/B training data (a CT and the MR of the same head, resampled onto one grid): one joint random draw per
item, reproducibly from a seed, so the two images of a pair stay aligned through slicing, resizing and flips."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.data.utils import set_rnd

from medtranslate.data.unpaired import _CACHE_MODES, _base_dataset
from medtranslate.errors import ConfigError, InputError

__all__ = ["PAIRED_KEY", "PairedDataset"]

#: key of the flag every PairedDataset item carries, so a trainer with a paired loss can refuse unpaired batches
PAIRED_KEY = "paired"


class PairedDataset(torch.utils.data.Dataset):
    """Items ``{output_keys[0]: A, output_keys[1]: B}`` of registered pairs, for supervised or semi-supervised training.

    Each item of ``data`` holds both images (e.g. the datalist's ``"pairs"`` split, ``{"a": ct, "b": mr}``). The
    deterministic ``transform`` (load, check, normalise; cached with ``cache="memory"``/``"disk"``) and the
    ``random_transform`` both act on the whole item, so a MONAI dictionary transform over both keys draws once for the
    pair: :class:`~medtranslate.transforms.RandForegroundSliced` takes the same slice of both, ``RandFlipd`` flips both
    or neither. The random transform is re-seeded per item from ``(seed, epoch, index)``, as in
    :class:`~medtranslate.data.UnpairedDataset`: an epoch is the same whatever the number of workers or processes, and
    a resumed run sees exactly the items the uninterrupted one would have.

    Args:
        data: pair items (dicts holding both keys) or a ready dataset of them (e.g. a ``Subset`` repeating each pair).
        transform: deterministic transform of a pair item (cached).
        random_transform: random transform of a pair item, re-seeded per item.
        keys: the item keys of the A and B images (the datalist's ``"a"`` and ``"b"``).
        output_keys: the keys of the A and B images in the items returned (the trainers' ``keys``).
        seed: seed of the random transforms.
        cache: ``"none"``, ``"memory"`` (``CacheDataset``) or ``"disk"`` (``PersistentDataset``).
        cache_dir: folder of the disk cache.
        cache_num_workers: threads that fill the memory cache.

    Raises:
        ConfigError: for a bad cache mode or key list.
        InputError: when there are no pairs, or an item lacks one of the images or their shapes differ.
    """

    def __init__(
        self,
        data: Sequence | torch.utils.data.Dataset,
        transform: Callable | None = None,
        random_transform: Callable | None = None,
        keys: Sequence[str] = ("a", "b"),
        output_keys: Sequence[str] = ("A", "B"),
        seed: int = 0,
        cache: str = "none",
        cache_dir: str | os.PathLike | None = None,
        cache_num_workers: int = 0,
    ) -> None:
        if cache not in _CACHE_MODES:
            raise ConfigError(None, f"cache must be one of {_CACHE_MODES}, not {cache!r}")
        self.keys, self.output_keys = tuple(keys), tuple(output_keys)
        if len(self.keys) != 2 or len(self.output_keys) != 2:
            raise ConfigError(None, f"a paired dataset has two keys (A, B), got {list(keys)} -> {list(output_keys)}")
        if not isinstance(data, torch.utils.data.Dataset) and not list(data):
            raise InputError(None, "the paired dataset has no pairs (is the datalist's 'pairs' split empty?)")
        self.base = _base_dataset(data, transform, cache, cache_dir, cache_num_workers, "pairs")
        self.random_transform = random_transform
        self.seed = int(seed)
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.base)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose random draws the items follow.

        Args:
            epoch: the epoch number (the trainers pass ignite's 1-based epoch).
        """
        self.epoch = int(epoch)

    def _seed(self, index: int) -> int:
        return int(np.random.SeedSequence([self.seed, self.epoch, index, 3]).generate_state(1)[0])

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        """The pair ``index``, randomly transformed as one.

        Args:
            index: the item index.

        Returns:
            ``{output_keys[0]: A, output_keys[1]: B, "paired": True}``, channel-first tensors of the same spatial
            shape, and the flag (:data:`PAIRED_KEY`) by which a paired loss knows its batch is registered pairs.

        Raises:
            InputError: when the item lacks a key or its two images differ in spatial shape (not registered).
        """
        item = self.base[index]
        if self.random_transform is not None:
            set_rnd(self.random_transform, self._seed(index))
            item = self.random_transform(item)
        if not isinstance(item, Mapping) or any(k not in item for k in self.keys):
            raise InputError(None, f"pair item {index} does not hold both images {list(self.keys)}")
        a, b = (_tensor(item[k]) for k in self.keys)
        if a.shape[1:] != b.shape[1:]:
            name = (getattr(item[self.keys[0]], "meta", None) or {}).get("filename_or_obj")
            raise InputError(
                name,
                f"is paired with an image of another grid (spatial shapes {tuple(a.shape[1:])} and "
                f"{tuple(b.shape[1:])}): paired training needs registered images resampled onto one grid",
            )
        return {self.output_keys[0]: a, self.output_keys[1]: b, PAIRED_KEY: True}


def _tensor(image: Any) -> torch.Tensor:
    return image if isinstance(image, torch.Tensor) else torch.as_tensor(np.asarray(image))
