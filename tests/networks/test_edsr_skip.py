"""EDSR's optional interpolation skip (the fundus_synthesis bundle learns the residual over bicubic)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from medtranslate.networks import EDSR


@pytest.mark.parametrize("spatial_dims, mode", [(2, "bicubic"), (3, "trilinear")])
def test_untrained_network_returns_the_interpolation(spatial_dims, mode):
    net = EDSR(spatial_dims, 3, 3, channels=4, num_res_blocks=1, scale=2, interpolation_skip="bicubic")
    x = torch.rand(1, 3, *([6] * spatial_dims))
    expected = F.interpolate(x, scale_factor=2, mode=mode, align_corners=False)
    assert torch.allclose(net(x), expected, atol=1e-6)


def test_default_is_plain_edsr_and_bad_mode_is_refused():
    net = EDSR(2, 3, 3, channels=4, num_res_blocks=1)
    assert net.interpolation_skip is None
    with pytest.raises(ValueError, match="interpolation_skip"):
        EDSR(2, interpolation_skip="lanczos")
