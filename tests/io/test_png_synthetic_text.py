"""A PNG that a model made carries a ``Description`` text chunk starting with SYNTHETIC; a conversion carries none."""

from __future__ import annotations

import numpy as np
from PIL import Image

from medtranslate.io import save_image


def test_synthetic_png_has_the_marker_and_plain_png_has_none(tmp_path):
    img = np.zeros((3, 8, 6), np.uint8)
    save_image(img, tmp_path / "fake.png", synthetic=True, description="my model")
    save_image(img, tmp_path / "plain.png")
    fake = Image.open(tmp_path / "fake.png")
    assert fake.info["Description"] == "SYNTHETIC my model" and fake.size == (8, 6)
    assert "Description" not in Image.open(tmp_path / "plain.png").info
