"""Speckle model Y = X(1 + F), Gareau stain and Otsu tissue masks (seed 001)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medtranslate.transforms import (
    EOSIN_RGB,
    HEMATOXYLIN_RGB,
    GareauStain,
    GareauStaind,
    RandSpeckle,
    RandSpeckled,
    he_darkness,
    otsu_tissue_mask,
    tissue_fraction,
)


@pytest.mark.parametrize(
    ("distribution", "looks", "var"), [("gamma", 1.0, 1.0), ("gamma", 4.0, 0.25), ("rayleigh", 1.0, 4 / np.pi - 1)]
)
def test_speckle_factor_has_mean_one_and_the_documented_variance(distribution, looks, var):
    t = RandSpeckle(distribution=distribution, looks=looks, clip=False)
    t.set_random_state(0)
    factor = t(torch.ones(1, 256, 256))
    assert abs(float(factor.mean()) - 1.0) < 0.02
    assert abs(float(factor.var()) - var) < 0.05 * max(var, 0.3)


def test_speckle_is_multiplicative_seeded_clipped_and_keeps_type():
    x = np.zeros((1, 32, 32), np.float32)
    x[:, :, 16:] = 0.8
    t = RandSpeckle(looks=2.0)
    t.set_random_state(3)
    y = t(x)
    assert isinstance(y, np.ndarray) and y.shape == x.shape
    assert np.all(y[:, :, :16] == 0) and y.max() <= 1.0 and np.std(y[:, :, 16:]) > 0.1  # zero stays zero
    t.set_random_state(3)
    assert np.array_equal(t(x), y)
    with pytest.raises(ValueError):
        RandSpeckle(distribution="laplace")
    with pytest.raises(ValueError):
        RandSpeckle(looks=0)


def test_dict_speckle_shares_one_field_between_keys_and_leaves_others():
    d = {"a": torch.full((1, 16, 16), 0.5), "b": torch.full((1, 16, 16), 0.5), "clean": torch.full((1, 16, 16), 0.5)}
    out = RandSpeckled(["a", "b"], looks=1.0).set_random_state(1)(d)
    assert (
        torch.equal(out["a"], out["b"]) and not torch.equal(out["a"], d["a"]) and torch.equal(out["clean"], d["clean"])
    )


@pytest.mark.parametrize("mode", ["linear", "beer_lambert"])
def test_gareau_colours(mode):
    stain = GareauStain(mode=mode)
    both = torch.zeros(2, 3, 1)
    both[0, 1] = 1.0  # pixel 1: FCM only -> hematoxylin
    both[1, 2] = 1.0  # pixel 2: RCM only -> eosin
    rgb = stain(both)
    assert rgb.shape == (3, 3, 1)
    assert torch.allclose(rgb[:, 0, 0], torch.ones(3))  # nothing: white (bright field)
    assert torch.allclose(rgb[:, 1, 0], torch.tensor(HEMATOXYLIN_RGB), atol=1e-6)
    assert torch.allclose(rgb[:, 2, 0], torch.tensor(EOSIN_RGB), atol=1e-6)
    assert rgb[2, 1, 0] > rgb[0, 1, 0] and rgb[0, 2, 0] > rgb[1, 2, 0]  # nuclei blue-purple, stroma pink


def test_gareau_dict_and_errors():
    d = {"fcm": np.full((1, 4, 4), 0.5, np.float32), "rcm": np.zeros((1, 4, 4), np.float32)}
    out = GareauStaind()(d)
    assert out["image"].shape == (3, 4, 4) and isinstance(out["image"], np.ndarray)
    with pytest.raises(ValueError, match="2 channels"):
        GareauStain()(np.zeros((3, 4, 4), np.float32))
    with pytest.raises(ValueError):
        GareauStain(hematoxylin=(0.0, 0.2, 1.0))


def test_otsu_mask_finds_bright_tissue_and_nothing_on_a_flat_slide():
    img = np.full((64, 64), 0.05, np.float32)
    img[16:48, 8:40] = 0.7
    mask = otsu_tissue_mask(img)
    assert mask[20, 20] and not mask[2, 60] and abs(mask.mean() - 32 * 32 / 64**2) < 1e-6
    assert not otsu_tissue_mask(np.full((8, 8), 0.3)).any()
    assert tissue_fraction(mask, (640, 640), 160, 80, (320, 320)) == 1.0
    assert tissue_fraction(mask, (640, 640), 0, 0, (100, 100)) == 0.0
    he = np.full((8, 8, 3), 255, np.uint8)
    he[:4] = (120, 60, 160)
    assert otsu_tissue_mask(he_darkness(he))[:4].all() and not otsu_tissue_mask(he_darkness(he))[4:].any()
