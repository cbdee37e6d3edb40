"""VolumeTranslator with a super-resolution network (``output_scale``): windows stitched at the output size, padding
cropped back at that size, and the affine's voxel size divided by the factor."""

from __future__ import annotations

import pytest
import torch
from monai.data import MetaTensor

from medtranslate.errors import ConfigError
from medtranslate.inferers import VolumeTranslator


def test_x2_network_through_windows_matches_the_whole_image():
    up = torch.nn.Upsample(scale_factor=2, mode="nearest")
    x = torch.rand(3, 20, 12)  # smaller than the window along the last axis: padded, then cropped at x2
    y = VolumeTranslator(roi_size=(16, 16), overlap=0.25, mode="constant", output_scale=2)(up, x)
    assert y.shape == (3, 40, 24)
    assert torch.allclose(y, up(x[None])[0], atol=1e-5)


def test_affine_of_the_output_has_half_the_spacing_and_the_same_corner():
    affine = torch.diag(torch.tensor([2.0, 3.0, 1.0, 1.0], dtype=torch.float64))
    affine[:2, 3] = torch.tensor([10.0, 20.0], dtype=torch.float64)
    x = MetaTensor(torch.rand(1, 8, 8), affine=affine)
    y = VolumeTranslator(roi_size=(-1, -1), output_scale=2)(torch.nn.Upsample(scale_factor=2), x)
    a = torch.as_tensor(y.affine, dtype=torch.float64)
    assert torch.allclose(a.diagonal()[:2], torch.tensor([1.0, 1.5], dtype=torch.float64))
    # the corner of the first voxel stays: centre - half a voxel, before and after
    assert torch.allclose(a[:2, 3] - a.diagonal()[:2] / 2, affine[:2, 3] - affine.diagonal()[:2] / 2)
    assert a[2, 2] == 1.0  # the third axis of a 2D image's affine is left alone


def test_size_mismatch_without_output_scale_is_refused():
    with pytest.raises(ConfigError, match="maps a"):
        VolumeTranslator(roi_size=(-1, -1))(torch.nn.Upsample(scale_factor=2), torch.rand(1, 8, 8))
    with pytest.raises(ConfigError, match="output_scale"):
        VolumeTranslator(roi_size=(8, 8), output_scale=0)
