"""Cycle-consistency trust maps |G_BA(G_AB(x)) - x|."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from torch import nn

from medtranslate.errors import InputError
from medtranslate.inferers import SliceTranslator, VolumeTranslator, cycle_consistency


class Scale(nn.Module):
    """Maps C to C' channels: every output channel is ``factor`` times the mean of the input channels."""

    def __init__(self, factor: float, out_channels: int) -> None:
        super().__init__()
        self.factor, self.out_channels = factor, out_channels

    def forward(self, x):
        return (self.factor * x.mean(1, keepdim=True)).expand(-1, self.out_channels, *x.shape[2:])


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_exact_inverse_gives_zero_error_and_a_lossy_one_shows_up(spatial_dims):
    shape = (12, 20, 20)[-spatial_dims:]
    roi = (8, 16, 16)[-spatial_dims:]
    x = torch.rand(1, *shape) * 2 - 1
    translator = VolumeTranslator(roi)
    good = cycle_consistency(Scale(0.5, 3), Scale(2.0, 1), x, translator)
    assert good.translated.shape == (3, *shape) and good.reconstructed.shape == x.shape
    assert good.error.shape == (1, *shape)
    torch.testing.assert_close(good.error, torch.zeros_like(good.error), rtol=0, atol=1e-5)
    lossy = cycle_consistency(Scale(0.5, 3), Scale(1.0, 1), x, translator)
    torch.testing.assert_close(lossy.error, 0.5 * x.abs(), rtol=1e-5, atol=1e-5)


def test_kinds_geometry_and_slice_translator():
    affine = torch.diag(torch.tensor([0.3, 0.3, 1.2, 1.0]))
    x = MetaTensor(torch.rand(1, 4, 16, 16), affine=affine)
    res = cycle_consistency(Scale(0.5, 3), Scale(2.0, 1), x, SliceTranslator((16, 16), axis=0))
    assert isinstance(res.error, MetaTensor) and res.error.shape == (1, 4, 16, 16)
    torch.testing.assert_close(res.error.affine, x.affine)
    arr = np.random.default_rng(0).random((2, 1, 4, 16, 16)).astype(np.float32)  # batched numpy
    res = cycle_consistency(Scale(0.5, 3), Scale(1.0, 1), arr, VolumeTranslator((4, 8, 8)))
    assert isinstance(res.error, np.ndarray) and res.error.shape == (2, 1, 4, 16, 16)
    np.testing.assert_allclose(res.error, 0.5 * arr, rtol=1e-5, atol=1e-6)


def test_reconstruction_must_have_the_input_channels():
    with pytest.raises(InputError, match="oct.tif: the reconstruction"):
        cycle_consistency(Scale(1.0, 3), Scale(1.0, 3), torch.rand(1, 4, 8, 8), VolumeTranslator((4, 8, 8)), "oct.tif")
