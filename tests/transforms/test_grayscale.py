"""UnitGrayscale: colour -> luminance, dtype range -> [0, 1], optional inversion, one-line errors naming the file."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from medtranslate.errors import InputError
from medtranslate.transforms import LUMINANCE_RGB, UnitGrayscale


def test_rgb_uint8_becomes_luminance_in_unit_range():
    rgb = np.zeros((3, 4, 5), np.uint8)
    rgb[0], rgb[1], rgb[2] = 255, 0, 255
    gray = UnitGrayscale()(rgb)
    assert gray.shape == (1, 4, 5) and gray.dtype == torch.float32
    assert torch.allclose(gray, torch.full((1, 4, 5), LUMINANCE_RGB[0] + LUMINANCE_RGB[2]))
    assert torch.allclose(UnitGrayscale(invert=True)(rgb), 1 - gray)


@pytest.mark.parametrize(("top", "scale"), [(0.5, 1.0), (200, 255.0), (4000, 65535.0), (70000, 70000.0)])
def test_scale_follows_the_range_that_holds_the_maximum(top, scale):
    img = torch.tensor([[[0.0, top]]])
    assert UnitGrayscale()(img)[0, 0, 1] == pytest.approx(top / scale)


def test_bad_images_name_the_file():
    with pytest.raises(InputError, match="two.png.*2 channels"):
        UnitGrayscale()(MetaTensor(torch.zeros(2, 4, 4), meta={"filename_or_obj": "two.png"}))
    with pytest.raises(InputError, match="not a 2D image"):
        UnitGrayscale()(torch.zeros(1, 4, 4, 4))
