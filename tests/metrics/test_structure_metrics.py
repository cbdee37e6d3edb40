"""Structure-recovery metrics: Otsu, vessel Dice of an en-face projection, slice-wise paired SSIM / PSNR."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medtranslate.errors import InputError
from medtranslate.metrics.structure import (
    dice,
    foreground_slices,
    otsu_threshold,
    paired_psnr,
    paired_ssim,
    stack_vessel_dice,
    vessel_dice,
)


def _tree(h: int = 32, w: int = 32) -> torch.Tensor:
    mask = torch.zeros(h, w, dtype=torch.bool)
    mask[14:17, :] = True
    mask[:, 8:10] = True
    return mask


def test_otsu_separates_two_levels():
    image = torch.cat([torch.full((50,), 0.1), torch.full((50,), 0.9)])
    assert 0.1 <= otsu_threshold(image) < 0.9
    assert otsu_threshold(torch.full((4, 4), 3.0)) == 3.0


def test_dice_values_and_shape_check():
    a = torch.tensor([1, 1, 0, 0], dtype=torch.bool)
    assert dice(a, a) == 1.0
    assert dice(a, ~a) == 0.0
    assert dice(a, torch.tensor([1, 0, 0, 0])) == pytest.approx(2 / 3)
    assert dice(torch.zeros(3), torch.zeros(3)) == 1.0
    with pytest.raises(InputError):
        dice(torch.ones(3), torch.ones(4))


def test_vessel_dice_bright_dark_and_noise():
    tree = _tree()
    bright = tree.float() * 0.8 + 0.1 + 0.02 * torch.randn(32, 32, generator=torch.Generator().manual_seed(0))
    assert vessel_dice(bright, tree) > 0.95
    assert vessel_dice(bright, tree, invert=True) < 0.1  # the background is the dark class
    assert vessel_dice(1.0 - bright, tree, invert=True) > 0.95
    noise = torch.rand(32, 32, generator=torch.Generator().manual_seed(1))
    assert vessel_dice(noise, tree) < 0.5
    with pytest.raises(InputError):
        vessel_dice(torch.rand(2, 32, 32), tree)


def test_stack_vessel_dice_uses_the_red_channel_along_depth():
    tree = _tree()
    stack = torch.zeros(3, 5, 32, 32)
    stack[0, 2] = tree.float()  # red vessels in one slice
    stack[2] = torch.rand(5, 32, 32, generator=torch.Generator().manual_seed(2))  # blue noise
    assert stack_vessel_dice(stack, tree) == 1.0
    assert stack_vessel_dice(stack, tree, channel=2) < 0.5
    moved = stack.movedim(1, 3)  # depth last
    assert stack_vessel_dice(moved, tree, depth_axis=2) == 1.0
    with pytest.raises(InputError):
        stack_vessel_dice(stack[0], tree)
    with pytest.raises(InputError):
        stack_vessel_dice(stack, tree, channel=3)


def test_paired_ssim_psnr_identity_and_degradation():
    g = torch.Generator().manual_seed(3)
    vol = torch.rand(1, 24, 24, 6, generator=g) * 2 - 1
    assert paired_ssim(vol, vol) == pytest.approx(1.0, abs=1e-5)
    noisy = (vol + 0.5 * torch.randn(vol.shape, generator=g)).clamp(-1, 1)
    assert paired_ssim(noisy, vol) < 0.9
    assert paired_psnr(noisy, vol) < paired_psnr((vol + 0.05 * torch.randn(vol.shape, generator=g)), vol)
    keep = torch.tensor([True, False, True, False, True, False])
    assert paired_ssim(noisy, vol, keep=keep) == pytest.approx(
        np.mean([paired_ssim(noisy[..., k], vol[..., k], slice_axis=None) for k in (0, 2, 4)]), abs=1e-5
    )
    with pytest.raises(InputError):
        paired_ssim(vol, vol[..., :3])
    with pytest.raises(InputError):
        paired_ssim(vol, vol, keep=torch.zeros(6, dtype=torch.bool))


def test_foreground_slices():
    vol = -torch.ones(1, 8, 8, 4)
    vol[0, :, :, 1] = 0.0
    assert foreground_slices(vol, slice_axis=2).tolist() == [False, True, False, False]
