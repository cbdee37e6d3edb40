"""En-face projections, slice stacks and side-by-side figures."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from PIL import Image

from medtranslate.errors import ConfigError, InputError
from medtranslate.metrics import en_face_projection, save_side_by_side, to_display, volume_slices


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_mean_and_max_projection(kind):
    vol = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    v = vol if kind == "numpy" else torch.from_numpy(vol)
    mean = en_face_projection(v, axis=0)
    mip = en_face_projection(v, axis=-3, mode="max")
    assert type(mean) is type(v) and tuple(mean.shape) == (3, 4)
    np.testing.assert_allclose(np.asarray(mean), vol.mean(0))
    np.testing.assert_allclose(np.asarray(mip), vol.max(0))
    slab = en_face_projection(v, axis=1, slab=(1, 3))
    np.testing.assert_allclose(np.asarray(slab), vol[:, 1:3].mean(1))


def test_projection_of_ints_channels_and_meta():
    vol = np.ones((3, 5, 4, 4), dtype=np.uint16)  # (C, D, H, W) RGB stack
    proj = en_face_projection(vol, axis=1)
    assert proj.shape == (3, 4, 4) and proj.dtype == np.float32
    meta = MetaTensor(torch.ones(5, 4, 4))
    out = en_face_projection(meta, axis=0, mode="max")
    assert type(out) is torch.Tensor and out.shape == (4, 4)
    with pytest.raises(ConfigError):
        en_face_projection(vol, axis=4)
    with pytest.raises(ConfigError):
        en_face_projection(vol, axis=1, mode="median")
    with pytest.raises(ConfigError):
        en_face_projection(vol, axis=1, slab=(3, 9))


def test_volume_slices():
    vol = torch.arange(2 * 6 * 3 * 3).reshape(2, 6, 3, 3)
    s = volume_slices(vol, axis=1, step=2)
    assert s.shape == (3, 2, 3, 3) and torch.equal(s[1], vol[:, 2])
    assert volume_slices(vol.numpy(), axis=0).shape == (2, 6, 3, 3)


def test_side_by_side_png(tmp_path):
    oct_proj = np.random.default_rng(0).random((32, 48)).astype(np.float32)
    confocal = torch.rand(3, 32, 48)  # channel-first RGB
    path = save_side_by_side(oct_proj, confocal, tmp_path / "fig" / "a2r.png", titles=("OCT", "confocal"))
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size[0] > im.size[1] > 0
    assert sorted(p.name for p in (tmp_path / "fig").iterdir()) == ["a2r.png"]


def test_to_display_layouts_and_errors():
    assert to_display(np.zeros((3, 8, 9))).shape == (8, 9, 3)
    assert to_display(np.zeros((8, 9, 3))).shape == (8, 9, 3)
    assert to_display(np.zeros((1, 8, 9))).shape == (8, 9)
    d = to_display(np.array([[0.0, 5.0], [10.0, 20.0]]), value_range=(0, 10))
    np.testing.assert_allclose(d, [[0, 0.5], [1, 1]])
    with pytest.raises(InputError):
        to_display(np.zeros((2, 8, 9, 1)))
    with pytest.raises(InputError):
        to_display(np.full((4, 4), np.nan))
