"""SSIM / PSNR / MAE wrappers in 2D and 3D, with explicit data ranges and units."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from medtranslate.errors import ConfigError, InputError
from medtranslate.metrics import mae, paired_metrics, psnr, ssim

SHAPES = {2: (24, 20), 3: (12, 14, 13)}


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_identical_images(spatial_dims):
    x = torch.rand(2, 1, *SHAPES[spatial_dims])
    torch.testing.assert_close(ssim(x, x.clone(), spatial_dims, data_range=1.0), torch.ones(2))
    assert torch.isinf(psnr(x, x.clone(), spatial_dims, data_range=1.0)).all()
    torch.testing.assert_close(mae(x, x.clone(), spatial_dims), torch.zeros(2))


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_known_psnr_and_mae_in_hu(spatial_dims):
    ct = torch.rand(1, 1, *SHAPES[spatial_dims]) * 4095 - 1024  # HU
    assert float(mae(ct + 50.0, ct, spatial_dims)) == pytest.approx(50.0, rel=1e-5)
    # constant error e: PSNR = 20 log10(range / e)
    assert float(psnr(ct + 40.95, ct, spatial_dims, data_range=4095)) == pytest.approx(40.0, abs=1e-3)
    unbatched = ct[0]  # (C, *spatial) gets a batch axis
    assert float(mae(unbatched - 10.0, unbatched, spatial_dims)) == pytest.approx(10.0, rel=1e-5)


def test_masked_mae():
    target = torch.zeros(1, 1, 4, 4)
    pred = target.clone()
    pred[..., :2, :] = 100.0
    mask = torch.zeros(4, 4, dtype=torch.bool)
    mask[:2] = True
    assert float(mae(pred, target, 2, mask=mask)) == pytest.approx(100.0)
    assert float(mae(pred, target, 2)) == pytest.approx(50.0)
    with pytest.raises(InputError, match="no voxel"):
        mae(pred, target, 2, mask=torch.zeros(4, 4, dtype=torch.bool))
    with pytest.raises(InputError, match="mask shape"):
        mae(pred, target, 2, mask=torch.ones(3, 3, dtype=torch.bool))


def test_ssim_matches_scikit_image_in_2d():
    rng = np.random.default_rng(0)
    a = rng.random((40, 36)).astype(np.float32) * 255
    b = np.clip(a + rng.normal(0, 20, a.shape), 0, 255).astype(np.float32)
    ref = structural_similarity(a, b, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    assert float(ssim(b, a, 2, data_range=255)) == pytest.approx(ref, abs=1e-4)


def test_ssim_data_range_matters_and_thin_stacks_need_a_smaller_window():
    x = torch.rand(1, 1, 9, 32, 32)
    y = (x + 0.1 * torch.randn_like(x)).clamp(0, 1)
    with pytest.raises(ConfigError, match="window"):
        ssim(y, x, 3, data_range=1.0)  # 9 slices < 11
    s = ssim(y, x, 3, data_range=1.0, win_size=(7, 11, 11))
    assert 0 < float(s) < 1
    assert float(ssim(y, x, 3, data_range=255.0, win_size=(7, 11, 11))) > float(s)  # a wider range forgives more


def test_bad_inputs():
    with pytest.raises(InputError, match="differs"):
        ssim(torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 15), 2, data_range=1.0)
    with pytest.raises(ConfigError):
        psnr(torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16), 2, data_range=0)
    with pytest.raises(InputError, match="NaN"):
        mae(torch.full((4, 4), float("nan")), torch.zeros(4, 4), 2)
    with pytest.raises(ConfigError):
        mae(torch.zeros(4, 4), torch.zeros(4, 4), 4)


def test_paired_metrics_entries():
    x = torch.rand(3, 1, 16, 16) * 2 - 1
    res = paired_metrics(x + 0.02, x, spatial_dims=2, data_range=2.0, units="a.u.")
    assert set(res) == {"SSIM", "PSNR", "MAE"}
    assert res["MAE"]["value"] == pytest.approx(0.02, rel=1e-4) and res["MAE"]["units"] == "a.u."
    assert res["PSNR"]["value"] == pytest.approx(20 * math.log10(2.0 / 0.02), abs=1e-3) and res["PSNR"]["n"] == 3
