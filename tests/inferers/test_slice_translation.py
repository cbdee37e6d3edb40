"""Slice-by-slice translation of volumes with 2D networks (SliceInferer)."""

from __future__ import annotations

import pytest
import torch
from monai.networks.blocks import Convolution
from torch import nn

from medtranslate.errors import ConfigError
from medtranslate.inferers import SliceTranslator, translate_slices


def net2d(cin: int = 1, cout: int = 3) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(Convolution(2, cin, 4, kernel_size=3, norm="instance", act="relu"), nn.Conv2d(4, cout, 1))


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_each_slice_is_translated_on_its_own(axis):
    net = net2d().eval()
    x = torch.rand(1, 6, 7, 8) * 2 - 1
    plane = [s for i, s in enumerate(x.shape[1:]) if i != axis]
    y = translate_slices(net, x, roi_size=plane, axis=axis, sw_batch_size=2)  # one window = one whole slice
    assert y.shape == (3, 6, 7, 8)
    with torch.no_grad():
        ref = torch.stack([net(s[None])[0] for s in x.unbind(axis + 1)], dim=axis + 1)
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)


def test_in_plane_tiling_and_padding():
    torch.manual_seed(0)
    pointwise = nn.Conv2d(1, 2, 1)
    x = torch.rand(2, 1, 4, 10, 30)  # batched; slice plane 10 x 30 with windows of 16 x 16 (10 < 16: padded)
    y = SliceTranslator((16, 16), axis=0, overlap=(0.5, 0.25), pad_mode="constant")(pointwise, x)
    with torch.no_grad():
        ref = torch.stack([pointwise(s) for s in x.unbind(2)], dim=2)
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)


def test_slice_translator_settings():
    with pytest.raises(ConfigError):
        SliceTranslator((16, 16, 16))
    with pytest.raises(ConfigError):
        SliceTranslator((16, 16), axis=3)
    with pytest.raises(ConfigError):
        SliceTranslator((16, 16), overlap=(0.5, 0.5, 0.5))
    assert SliceTranslator((16, 8), axis=1).roi_size == (16, 1, 8)
