"""IdentityLoss channel policies (grayscale <-> RGB) against hand-computed values, and the clear error."""

from __future__ import annotations

import pytest
import torch

from medtranslate.losses import IdentityLoss, luminance, match_channels

RGB = (0.2, 0.4, 0.6)
GRAY = 0.4
LUMA = 0.299 * 0.2 + 0.587 * 0.4 + 0.114 * 0.6  # ITU-R BT.601 = 0.363


def _rgb(spatial_dims: int) -> torch.Tensor:
    return torch.tensor(RGB).view(1, 3, *([1] * spatial_dims)).expand(2, 3, *([4] * spatial_dims)).clone()


def _gray(spatial_dims: int) -> torch.Tensor:
    return torch.full((2, 1, *([4] * spatial_dims)), GRAY)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_same_channels_is_plain_l1(spatial_dims):
    out = _rgb(spatial_dims)
    target = torch.zeros_like(out)
    assert IdentityLoss()(out, target).item() == pytest.approx(sum(RGB) / 3)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_error_policy_names_the_shapes(spatial_dims):
    with pytest.raises(ValueError, match=r"output has shape \(2, 3, 4, 4.*target has \(2, 1, 4, 4"):
        IdentityLoss("error")(_rgb(spatial_dims), _gray(spatial_dims))


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("swap", [False, True])
def test_repeat_policy(spatial_dims, swap):
    a, b = _rgb(spatial_dims), _gray(spatial_dims)
    if swap:
        a, b = b, a
    expected = (abs(0.2 - GRAY) + abs(0.4 - GRAY) + abs(0.6 - GRAY)) / 3  # gray repeated to 3 channels
    assert IdentityLoss("repeat")(a, b).item() == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("swap", [False, True])
def test_luminance_policy(spatial_dims, swap):
    a, b = _rgb(spatial_dims), _gray(spatial_dims)
    if swap:
        a, b = b, a
    assert IdentityLoss("luminance")(a, b).item() == pytest.approx(abs(LUMA - GRAY), abs=1e-6)


def test_prepare_input():
    rgb, gray = _rgb(2), _gray(2)
    assert IdentityLoss("repeat").prepare_input(gray, 3).shape == (2, 3, 4, 4)
    torch.testing.assert_close(IdentityLoss("luminance").prepare_input(rgb, 1), torch.full((2, 1, 4, 4), LUMA))
    assert IdentityLoss("luminance").prepare_input(gray, 3).shape == (2, 3, 4, 4)
    assert IdentityLoss("error").prepare_input(rgb, 3) is rgb
    with pytest.raises(ValueError, match="'repeat' only turns 1 channel into many"):
        IdentityLoss("repeat").prepare_input(rgb, 1)
    with pytest.raises(ValueError, match=r"cannot turn shape \(2, 3, 4, 4\) into 1 channels"):
        IdentityLoss("error").prepare_input(rgb, 1)


def test_luminance_helpers():
    torch.testing.assert_close(luminance(_rgb(3)), torch.full((2, 1, 4, 4, 4), LUMA))
    with pytest.raises(ValueError, match="RGB"):
        luminance(torch.zeros(1, 2, 4, 4))
    with pytest.raises(ValueError, match="only converts between 1 and 3"):
        match_channels(torch.zeros(1, 2, 4, 4), 1, "luminance")


def test_gradient_and_autocast():
    out = _rgb(2).requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = IdentityLoss("luminance")(out.to(torch.bfloat16), _gray(2))
    assert loss.dtype == torch.float32
    loss.backward()
    assert out.grad is not None and out.grad.abs().sum() > 0


def test_spatial_mismatch_and_bad_policy():
    with pytest.raises(ValueError, match="differ beyond channels"):
        IdentityLoss("repeat")(torch.zeros(1, 3, 4, 4), torch.zeros(1, 1, 5, 4))
    with pytest.raises(ValueError, match="channel_policy"):
        IdentityLoss("broadcast")
