"""UnpairedDataset: seeded pairing per epoch, per-item random transforms, patches and depth slabs, caching."""

from __future__ import annotations

import pytest
import torch
from _engine_nets import random_images
from monai.transforms import Compose, EnsureChannelFirstd, Lambdad, RandFlip

from medtranslate.data.unpaired import UnpairedDataset
from medtranslate.errors import ConfigError, InputError


def test_pairing_is_reproducible_and_changes_with_epoch():
    ds = UnpairedDataset(random_images(20, 1, (4, 4), 0), random_images(7, 1, (4, 4), 1), seed=5)
    ds.set_epoch(1)
    first = [ds.partner_index(i) for i in range(20)]
    again = UnpairedDataset(random_images(20, 1, (4, 4), 0), random_images(7, 1, (4, 4), 1), seed=5)
    again.set_epoch(1)
    assert [again.partner_index(i) for i in range(20)] == first
    ds.set_epoch(2)
    assert [ds.partner_index(i) for i in range(20)] != first
    assert set(first) <= set(range(7))
    item = ds[3]
    assert set(item) == {"A", "B"} and item["A"].shape == (1, 4, 4)


def test_random_transforms_are_seeded_per_item():
    images = random_images(4, 1, (6, 6), 0)
    ds = UnpairedDataset(images, images, random_transform_a=RandFlip(prob=0.5, spatial_axis=1), seed=1)
    ds.set_epoch(1)
    torch.manual_seed(0)
    a = [ds[i]["A"] for i in range(4)]
    torch.manual_seed(99)
    b = [ds[i]["A"] for i in reversed(range(4))][::-1]  # other order, other global state: same items
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    flips = []
    for epoch in range(1, 9):
        ds.set_epoch(epoch)
        flips.append(not torch.equal(ds[0]["A"], images[0]))
    assert any(flips) and not all(flips)


@pytest.mark.parametrize(
    ("spatial", "patch", "expected"),
    [((10, 12), (8, 8), (8, 8)), ((12, 16, 16), (9, -1, -1), (9, 16, 16)), ((5, 6), (8, 8), (8, 8))],
)
def test_patches_slabs_and_padding(spatial, patch, expected):
    ds = UnpairedDataset(random_images(3, 1, spatial, 0), random_images(3, 3, spatial, 1), patch_size=patch)
    item = ds[0]
    assert item["A"].shape == (1, *expected) and item["B"].shape == (3, *expected)
    if any(s < e for s, e in zip(spatial, expected)):
        assert float(item["A"].min()) == -1.0  # padded with the background value
    ds.set_patch_size([4] * len(spatial))
    assert ds[1]["A"].shape[1:] == (4,) * len(spatial)
    ds.set_patch_size(None)
    assert ds[1]["A"].shape[1:] == spatial


def test_3d_slab_comes_from_consecutive_slices():
    vol = torch.arange(12, dtype=torch.float32).view(1, 12, 1, 1).expand(1, 12, 3, 3).clone()
    ds = UnpairedDataset([vol], [vol], patch_size=(9, -1, -1))
    for epoch in range(1, 5):
        ds.set_epoch(epoch)
        depth_values = ds[0]["A"][0, :, 0, 0]
        assert torch.equal(depth_values, depth_values[0] + torch.arange(9.0))


@pytest.mark.parametrize("cache", ["memory", "disk"])
def test_dict_items_with_cached_transforms(tmp_path, cache):
    calls = []

    def load(x):
        calls.append(1)
        return x * 0.5

    items_a = [{"image": img[0]} for img in random_images(3, 1, (6, 6), 0)]
    items_b = [{"image": img[0]} for img in random_images(2, 1, (6, 6), 1)]
    transform = Compose([EnsureChannelFirstd("image", channel_dim="no_channel"), Lambdad("image", load)])
    ds = UnpairedDataset(items_a, items_b, transform_a=transform, cache=cache, cache_dir=tmp_path)
    n_cached = len(calls)
    out = [ds[i] for i in range(3)] + [ds[i] for i in range(3)]
    assert out[0]["A"].shape == (1, 6, 6)
    assert torch.allclose(out[0]["A"], items_a[0]["image"][None] * 0.5)
    assert len(calls) == n_cached or cache == "disk"  # memory cache: nothing recomputed
    if cache == "disk":
        assert any(tmp_path.rglob("*.pt"))


def test_bad_options_are_reported():
    imgs = random_images(2, 1, (4, 4), 0)
    with pytest.raises(InputError, match="no items"):
        UnpairedDataset([], imgs)
    with pytest.raises(ConfigError, match="cache"):
        UnpairedDataset(imgs, imgs, cache="ram")
    with pytest.raises(ConfigError, match="cache_dir"):
        UnpairedDataset(imgs, imgs, cache="disk")
    with pytest.raises(ConfigError, match="patch_size"):
        UnpairedDataset(imgs, imgs, patch_size=(0, 4))
    with pytest.raises(ConfigError, match="spatial axes"):
        UnpairedDataset(imgs, imgs, patch_size=(4, 4, 4))[0]


def test_length_max_repeats_domain_a():
    ds = UnpairedDataset(random_images(2, 1, (4, 4), 0), random_images(5, 1, (4, 4), 1), length="max")
    assert len(ds) == 5
    assert torch.equal(ds[3]["A"], ds[1]["A"])
