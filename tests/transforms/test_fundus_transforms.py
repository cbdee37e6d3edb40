"""Seed 004's transforms: deconvolution denoising of vessel maps, box downscaling, the upscaler's and the vessel
map's input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from medtranslate.errors import ConfigError, InputError
from medtranslate.transforms import (
    Downscaled,
    UpscaleCheck,
    VesselDeconvolution,
    VesselMapCheck,
    deconvolve_vessels,
    downscale,
    gaussian_psf,
    upscale_interpolated,
)


def _dice(a, b):
    return 2 * (a & b).sum() / (a.sum() + b.sum())


def test_gaussian_psf_is_normalised_and_symmetric():
    k = gaussian_psf(1.5)
    assert k.shape == (11, 11) and k.sum() == pytest.approx(1.0) and np.allclose(k, k.T)
    with pytest.raises(ConfigError):
        gaussian_psf(0)


def test_deconvolution_recovers_thin_vessels_that_a_plain_threshold_loses():
    truth = np.zeros((64, 64), bool)
    truth[10:54, 20] = True  # a one-pixel vessel
    truth[10:54, 40:43] = True  # a three-pixel vessel
    blurred = ndimage.gaussian_filter(truth.astype(float), 1.5)  # what a VAE decoder returns
    plain = deconvolve_vessels(blurred, psf_sigma=0)
    sharp = deconvolve_vessels(blurred, psf_sigma=1.5, num_iter=30)
    assert not plain[30, 20]  # the thin vessel fades below 0.5 without deconvolution
    assert sharp[30, 20] and _dice(sharp, truth) > _dice(plain, truth) + 0.1


def test_vessel_deconvolution_transform_returns_binary_channels():
    x = torch.rand(2, 16, 16)
    y = VesselDeconvolution(psf_sigma=1.0, num_iter=5)(x)
    assert y.shape == x.shape and y.dtype == torch.float32 and set(torch.unique(y).tolist()) <= {0.0, 1.0}
    with pytest.raises(ConfigError):
        VesselDeconvolution(threshold=1.5)


def test_downscale_is_a_box_mean_and_bicubic_keeps_constants():
    x = torch.arange(16.0).reshape(1, 4, 4)
    y = downscale(x, 2)
    assert y.shape == (1, 2, 2) and y[0, 0, 0] == pytest.approx((0 + 1 + 4 + 5) / 4)
    d = Downscaled(keys="lr", scale=2)({"lr": torch.ones(3, 8, 8), "image": torch.ones(3, 8, 8)})
    assert d["lr"].shape == (3, 4, 4) and d["image"].shape == (3, 8, 8)
    up = upscale_interpolated(torch.full((3, 5, 5), 0.3), 2)
    assert up.shape == (3, 10, 10) and torch.allclose(up, torch.full_like(up, 0.3), atol=1e-6)
    with pytest.raises(InputError, match="smaller"):
        downscale(torch.ones(1, 1, 4), 2)


def test_upscale_check_names_grayscale_and_oversized_inputs():
    check = UpscaleCheck(scale=2, max_output_size=100)
    assert check(torch.zeros(3, 40, 50), "ok.png") == []
    with pytest.raises(InputError, match=r"gray.png: is not an RGB image \(1 channel"):
        check(torch.zeros(1, 40, 40), "gray.png")
    with pytest.raises(InputError, match=r"big.png: upscaling x2 would give 120 x 80 pixels, above the limit of 100"):
        check(torch.zeros(3, 60, 40), "big.png")
    assert UpscaleCheck(max_output_size=None)(torch.zeros(3, 4000, 8), "x") == []


def test_vessel_map_check_wants_one_binary_channel():
    check = VesselMapCheck()
    assert check(torch.tensor([[0.0, 255.0], [255.0, 0.0]]).repeat(4, 4)[None], "ok.png") == []
    with pytest.raises(InputError, match="rgb.png: is not a single-channel vessel map"):
        check(torch.zeros(3, 8, 8), "rgb.png")
    with pytest.raises(InputError, match=r"soft.png: is not a binary vessel map \(64 distinct"):
        check(torch.arange(64.0).reshape(1, 8, 8), "soft.png")
