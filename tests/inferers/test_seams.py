"""Seams of sliding-window translation with an instance-norm network (the required seam test)."""

from __future__ import annotations

import pytest
import torch
from monai.data.utils import dense_patch_slices
from monai.networks.blocks import Convolution
from monai.networks.layers import GaussianFilter
from torch import nn

from medtranslate.errors import ConfigError
from medtranslate.inferers import seam_score, translate_volume, window_borders, window_starts

# (image, window): several windows per axis so that there are interior window borders.
CASES = {2: ((64, 64), (32, 32)), 3: ((16, 32, 32), (8, 16, 16))}


def instance_norm_net(spatial_dims: int) -> nn.Module:
    """Three 3-wide convolutions, two instance norms, tanh: per-window statistics are what makes seams."""
    torch.manual_seed(0)
    return nn.Sequential(
        Convolution(spatial_dims, 1, 8, kernel_size=3, norm="instance", act="relu"),
        Convolution(spatial_dims, 8, 8, kernel_size=3, norm="instance", act="relu"),
        Convolution(spatial_dims, 8, 1, kernel_size=3, conv_only=True),
        nn.Tanh(),
    ).eval()


def texture(spatial_dims: int, shape: tuple[int, ...]) -> torch.Tensor:
    """A smooth random tissue-like texture in [-1, 1], (1, 1, *shape)."""
    g = torch.Generator().manual_seed(1)
    x = GaussianFilter(spatial_dims, 1.0)(torch.randn(1, 1, *shape, generator=g))
    return x / x.abs().max()


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_sliding_window_matches_one_shot_without_seams(spatial_dims):
    shape, roi = CASES[spatial_dims]
    net, x = instance_norm_net(spatial_dims), texture(spatial_dims, shape)
    with torch.no_grad():
        one_shot = net(x)[0]
    tiled = translate_volume(net, x, roi, overlap=0.5, mode="gaussian")[0]
    naive = translate_volume(net, x, roi, overlap=0.0, mode="constant")[0]  # abutting tiles: the negative control
    interior = (slice(None),) + tuple(slice(2, s - 2) for s in shape)
    err = (tiled - one_shot)[interior].abs().mean()
    naive_err = (naive - one_shot)[interior].abs().mean()
    # Interior agreement: within a quarter of the output's spread, and clearly better than abutting tiles.
    assert err < 0.25 * one_shot.std() and err < 0.6 * naive_err
    # Gradient energy on window-border planes is not higher than on the other planes.
    seams = seam_score(tiled, roi, 0.5, interior_margin=2)
    assert seams.border_planes > 0 and seams.ratio < 1.1
    # The measure does see seams where they exist (instance norm statistics jump between abutting tiles).
    assert seam_score(naive, roi, 0.0, interior_margin=2).ratio > 1.25


def test_window_positions_follow_monai():
    image, roi = (10, 37), (4, 16)
    starts = window_starts(image, roi, 0.5)
    slices = dense_patch_slices(image, roi, (2, 8))
    assert starts == [sorted({s[0].start for s in slices}), sorted({s[1].start for s in slices})]
    assert starts[1] == [0, 8, 16, 21]  # the last window is moved back to end at the edge
    assert window_borders(image, roi, 0.5)[1] == [8, 16, 21, 24, 32]


def test_seam_score_on_a_step_and_errors():
    step = torch.zeros(1, 32)
    step[:, 16:] = 1.0  # a jump exactly where a 16-wide window ends
    score = seam_score(step, (16,), 0.0)
    assert score.other == (0.0,) and score.border == (1.0,) and score.ratio == float("inf")
    ramp = torch.arange(32.0)[:, None] * 10 + torch.arange(32.0)[None, :]  # steeper along axis 0, no seam
    flat = seam_score(ramp, (16, 16), 0.0)
    assert flat.ratios == (1.0, 1.0) and flat.border == (10.0, 1.0) and flat.border_planes == 2
    with pytest.raises(ConfigError, match="single window"):
        seam_score(torch.rand(16, 16), (16, 16), 0.5)
    with pytest.raises(ConfigError):
        window_starts((8, 8), (16, 16), 0.5)
