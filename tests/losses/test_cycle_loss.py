"""CycleLoss: plain L1 and the ganslate SSIM mix, against hand-computed values."""

from __future__ import annotations

import pytest
import torch

from medtranslate.losses import CycleLoss


def test_l1_hand_computed():
    real = torch.tensor([0.5, -0.5, 1.0, 0.0]).view(1, 1, 2, 2)
    assert CycleLoss()(torch.zeros_like(real), real).item() == pytest.approx((0.5 + 0.5 + 1.0 + 0.0) / 4)


@pytest.mark.parametrize(("spatial_dims", "shape", "win"), [(2, (1, 1, 16, 16), 11), (3, (1, 1, 5, 8, 8), (3, 5, 5))])
def test_ssim_mix_on_constant_images(spatial_dims, shape, win):
    """For constant images SSIM = (2ab + C1) / (a^2 + b^2 + C1), C1 = (0.01 * data_range)^2; the contrast term is 1."""
    a, b, w = 0.5, -0.5, 0.84
    c1 = (0.01 * 2.0) ** 2
    ssim = (2 * a * b + c1) / (a * a + b * b + c1)
    expected = w * (1 - ssim) + (1 - w) * abs(a - b)
    loss = CycleLoss(ssim_weight=w, spatial_dims=spatial_dims, win_size=win)(torch.full(shape, a), torch.full(shape, b))
    assert loss.item() == pytest.approx(expected, abs=1e-4)


def test_identical_images_give_zero():
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    assert CycleLoss(ssim_weight=0.84)(x, x.clone()).item() == pytest.approx(0.0, abs=1e-5)


def test_gradient_and_bf16_autocast():
    rec = (torch.rand(1, 1, 16, 16) * 2 - 1).requires_grad_(True)
    real = torch.rand(1, 1, 16, 16) * 2 - 1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = CycleLoss(ssim_weight=0.84)(rec.to(torch.bfloat16), real)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert rec.grad is not None and rec.grad.abs().sum() > 0


def test_window_larger_than_image_is_a_clear_error():
    with pytest.raises(ValueError, match="smaller win_size"):
        CycleLoss(ssim_weight=0.5, spatial_dims=3)(torch.zeros(1, 1, 9, 16, 16), torch.zeros(1, 1, 9, 16, 16))


def test_bad_arguments():
    with pytest.raises(ValueError, match="ssim_weight"):
        CycleLoss(ssim_weight=1.5)
    with pytest.raises(ValueError, match="differ in shape"):
        CycleLoss()(torch.zeros(1, 1, 4, 4), torch.zeros(1, 3, 4, 4))


def test_losses_build_from_bundle_config():
    from monai.bundle import ConfigParser

    parser = ConfigParser(
        {
            "cycle": {"_target_": "medtranslate.losses.CycleLoss", "ssim_weight": 0.84},
            "gan": {"_target_": "medtranslate.losses.AdversarialLoss", "mode": "lsgan"},
            "idt": {"_target_": "medtranslate.losses.IdentityLoss", "channel_policy": "repeat"},
        }
    )
    assert parser.get_parsed_content("cycle").ssim_weight == 0.84
    assert parser.get_parsed_content("gan").mode == "lsgan"
    assert parser.get_parsed_content("idt").channel_policy == "repeat"


def test_blur_sigma_ignores_speckle_but_not_structure():
    """With a low-pass, zero-mean pixel noise costs far less than with plain L1; a shifted edge still costs."""
    torch.manual_seed(0)
    real = torch.zeros(1, 1, 5, 32, 32)
    real[..., 12:20] = 1.0
    noisy = real + 0.5 * torch.randn_like(real)
    plain, low = CycleLoss(spatial_dims=3), CycleLoss(spatial_dims=3, blur_sigma=[0.0, 2.0, 2.0])
    assert low(noisy, real).item() < 0.25 * plain(noisy, real).item()
    shifted = torch.roll(real, 4, dims=-1)
    assert low(shifted, real).item() > 0.5 * plain(shifted, real).item()
    assert low(real.clone(), real).item() == pytest.approx(0.0, abs=1e-6)


def test_blur_sigma_zero_is_plain_l1_and_negative_is_refused():
    x, y = torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8)
    assert CycleLoss(blur_sigma=0.0)(x, y).item() == pytest.approx(CycleLoss()(x, y).item())
    with pytest.raises(ValueError, match="blur_sigma"):
        CycleLoss(blur_sigma=-1.0)
