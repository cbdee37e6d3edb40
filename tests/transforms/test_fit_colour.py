"""FitToSize (crop / pad / squash to a network's square input) and ColourPhotoCheck (grey images given as fundus)."""

from __future__ import annotations

import pytest
import torch

from medtranslate.errors import ConfigError, InputError
from medtranslate.transforms import ColourPhotoCheck, FitToSize, FitToSized


@pytest.mark.parametrize("fit", ["crop", "pad", "resize"])
def test_fit_any_size_to_square(fit):
    img = torch.rand(4, 50, 30)
    out = FitToSize((16, 16), fit=fit, channels=3)(img)
    assert tuple(out.shape) == (3, 16, 16) and out.dtype == torch.float32
    d = FitToSized("image", (8, 8), fit=fit)({"image": img, "label": 1})
    assert tuple(d["image"].shape) == (4, 8, 8) and d["label"] == 1


def test_crop_keeps_the_centre_and_pad_keeps_everything():
    img = torch.zeros(1, 30, 10)
    img[0, 10:20] = 1.0  # the centred 10 x 10 square
    assert float(FitToSize((10, 10), "crop")(img).min()) == 1.0
    padded = FitToSize((30, 30), "pad")(img)
    assert float(padded.sum()) == float(img.sum())
    with pytest.raises(ConfigError, match="unknown fit"):
        FitToSize((8, 8), "stretch")


def test_colour_check_refuses_grey_images():
    check = ColourPhotoCheck("fundus photograph")
    assert check(torch.rand(3, 20, 20), "rgb.png") == []
    assert check(torch.rand(4, 20, 20), "rgba.png") == []
    with pytest.raises(
        InputError, match=r"^g\.png: is a greyscale image; a colour \(RGB\) fundus photograph is needed"
    ):
        check(torch.rand(1, 20, 20), "g.png")
    grey = torch.rand(1, 20, 20).repeat(3, 1, 1)
    with pytest.raises(InputError, match="greyscale"):
        check(grey, "grey_as_rgb.png")
    with pytest.raises(InputError, match="is 3D"):
        check(torch.rand(3, 20, 20, 5), "vol.nii")
