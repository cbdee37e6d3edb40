"""GradientLoss (seed 000): Sobel and finite differences in 2D and 3D against hand-computed ramps."""

from __future__ import annotations

import pytest
import torch

from medtranslate.losses import GradientLoss, spatial_gradients


def _ramp(shape: tuple[int, ...]) -> torch.Tensor:
    """x = index along the last axis, shape (1, 1, *shape)."""
    w = shape[-1]
    return torch.arange(w, dtype=torch.float32).expand(*shape).reshape(1, 1, *shape).clone()


# 2D ramp 3x4, Sobel with replicate padding: d/dW = [1, 2, 1] (sum 4) x derivative (1 at the edges, 2 inside)
#   -> rows of 4, 8, 8, 4: mean 6 over 12 pixels; d/dH = 0. Loss vs zeros = (6 + 0) / 2 = 3.
# 3D ramp 3x3x4: smoothing sums 4 * 4 = 16 -> 16, 32, 32, 16: mean 24; loss = 24 / 3 = 8.
# Forward differences: d/dW = 1 everywhere on the valid region, other axes 0 -> 1 / D.
@pytest.mark.parametrize(
    ("shape", "method", "expected"),
    [((3, 4), "sobel", 3.0), ((3, 3, 4), "sobel", 8.0), ((3, 4), "diff", 0.5), ((3, 3, 4), "diff", 1 / 3)],
)
def test_ramp_hand_computed(shape, method, expected):
    loss = GradientLoss(len(shape), method=method)
    ramp = _ramp(shape)
    assert loss(ramp, torch.zeros_like(ramp)).item() == pytest.approx(expected)
    assert loss(torch.zeros_like(ramp), ramp).item() == pytest.approx(expected)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_sobel_kernel_matches_reference_layout(spatial_dims):
    """A unit impulse returns the Sobel kernel itself (flipped): the 3D kernel of the seed-000 reference code."""
    x = torch.zeros(1, 1, *([5] * spatial_dims))
    x[(0, 0) + (2,) * spatial_dims] = 1.0
    g_last = spatial_gradients(x, spatial_dims)[-1][0, 0]
    centre = tuple(slice(1, 4) for _ in range(spatial_dims))
    if spatial_dims == 2:
        expected = torch.tensor([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]])
    else:
        s = torch.tensor([1.0, 2, 1])
        expected = (s.view(3, 1, 1) * s.view(1, 3, 1)) * torch.tensor([1.0, 0, -1]).view(1, 1, 3)
    torch.testing.assert_close(g_last[centre], expected)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_intensity_offset_is_free(spatial_dims):
    x = torch.rand(2, 1, *([6] * spatial_dims))
    assert GradientLoss(spatial_dims)(x + 0.3, x).item() == pytest.approx(0.0, abs=1e-6)


def test_channel_counts_differ():
    ramp = _ramp((3, 4))
    rgb_copy = ramp.expand(1, 3, 3, 4)
    assert GradientLoss(2)(rgb_copy, ramp).item() == pytest.approx(0.0, abs=1e-6)  # gray OCT -> RGB with same edges
    red_only = torch.cat([ramp, torch.zeros_like(ramp), torch.zeros_like(ramp)], dim=1)
    # channel mean = ramp / 3: |1/3 - 1| * 3
    assert GradientLoss(2, channel_reduction="mean")(red_only, ramp).item() == pytest.approx(2.0, abs=1e-5)
    # luminance = 0.299 * ramp: |0.299 - 1| * 3
    assert GradientLoss(2, channel_reduction="luminance")(red_only, ramp).item() == pytest.approx(2.103, abs=1e-5)


def test_same_channel_count_compares_per_channel():
    ramp = _ramp((3, 4))
    a = torch.cat([ramp, torch.zeros_like(ramp)], dim=1)
    b = torch.cat([torch.zeros_like(ramp), ramp], dim=1)
    assert GradientLoss(2)(a, b).item() == pytest.approx(3.0)  # not 0, as a channel mean would give


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_gradient_and_autocast(spatial_dims):
    out = torch.rand(1, 3, *([5] * spatial_dims), requires_grad=True)
    inp = torch.rand(1, 1, *([5] * spatial_dims))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = GradientLoss(spatial_dims)(out.to(torch.bfloat16), inp)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert out.grad is not None and out.grad.abs().sum() > 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="method"):
        GradientLoss(2, method="laplace")
    with pytest.raises(ValueError, match="channel_reduction"):
        GradientLoss(2, channel_reduction="max")
    with pytest.raises(ValueError, match="differ beyond channels"):
        GradientLoss(2)(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5))
