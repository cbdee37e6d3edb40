"""PairedDataset: one joint random draw per pair (the two images stay registered), reproducible from
(seed, epoch, index), and one-line errors for what cannot be a pair."""

from __future__ import annotations

import pytest
import torch
from monai.transforms import Compose, RandFlipd, RandSpatialCropd

from medtranslate.data import PairedDataset
from medtranslate.errors import ConfigError, InputError
from medtranslate.transforms import RandForegroundSliced


def _pairs(n: int = 3) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    items = []
    for _ in range(n):
        a = torch.rand(1, 10, 12, 8, generator=g) * 2 - 1
        items.append({"a": a, "b": -a})  # B is a known function of A: registration is checkable voxel by voxel
    return items


def _random() -> Compose:
    return Compose(
        [
            RandForegroundSliced(["a", "b"], axis=2, min_foreground=0.0),
            RandSpatialCropd(["a", "b"], (6, 6), random_size=False),
            RandFlipd(["a", "b"], prob=0.5, spatial_axis=0),
            RandFlipd(["a", "b"], prob=0.5, spatial_axis=1),
        ]
    )


def test_items_stay_registered_through_the_random_transforms():
    ds = PairedDataset(_pairs(), random_transform=_random(), seed=3)
    for epoch in (1, 2, 3):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            item = ds[i]
            assert set(item) == {"A", "B", "paired"} and item["paired"] is True and item["A"].shape == (1, 6, 6)
            torch.testing.assert_close(item["B"], -item["A"])


def test_draws_are_functions_of_seed_epoch_and_index():
    first, again = (
        PairedDataset(_pairs(), random_transform=_random(), seed=3),
        PairedDataset(_pairs(), random_transform=_random(), seed=3),
    )
    first.set_epoch(2)
    again.set_epoch(2)
    for i in (2, 0, 1):  # any order, a fresh dataset: the same items (what an exact resume needs)
        torch.testing.assert_close(again[i]["A"], first[i]["A"])
    first.set_epoch(5)
    assert any(not torch.equal(first[i]["A"], again[i]["A"]) for i in range(3))  # another epoch, other draws


def test_what_cannot_be_a_pair_is_refused_in_one_line():
    with pytest.raises(InputError, match="no pairs"):
        PairedDataset([])
    with pytest.raises(ConfigError, match="cache must be one of"):
        PairedDataset(_pairs(), cache="ram")
    with pytest.raises(ConfigError, match="two keys"):
        PairedDataset(_pairs(), keys=("a", "b", "c"))
    bad = [{"a": torch.zeros(1, 4, 4), "b": torch.zeros(1, 4, 5)}]
    with pytest.raises(InputError, match="another grid"):
        PairedDataset(bad)[0]
    with pytest.raises(InputError, match="both images"):
        PairedDataset([{"a": torch.zeros(1, 4, 4)}])[0]
