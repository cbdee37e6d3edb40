"""OCT / confocal stack transforms: checks, depth axis, ILM-IPL slab, slab augmentation (2D and 3D)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from medtranslate.errors import InputError
from medtranslate.transforms.augment import RandEnFaceZoomd, slab_augmentation, training_patch_size
from medtranslate.transforms.oct import (
    CheckStackd,
    DepthRanged,
    OCTStackCheck,
    check_stack,
    depth_first_indices,
    select_depth_range,
)


def _image(shape, name="scan.nii.gz"):
    return MetaTensor(torch.rand(*shape), meta={"filename_or_obj": name})


@pytest.mark.parametrize(
    "axis, expected", [(0, [0, 1, 2, 3]), (2, [0, 3, 1, 2]), (-1, [0, 3, 1, 2]), (1, [0, 2, 1, 3])]
)
def test_depth_first_indices(axis, expected):
    assert depth_first_indices(axis) == expected
    x = torch.rand(1, 4, 5, 6)
    moved = x.permute(*expected)
    assert moved.shape[1] == x.shape[1 + axis % 3]
    with pytest.raises(ValueError):
        depth_first_indices(3)


@pytest.mark.parametrize(
    "shape, kwargs, message",
    [
        ((1, 32, 32), {"channels": 1}, "expected a 3D stack"),
        ((3, 9, 8, 8), {"channels": 1, "modality": "OCT"}, "OCT: 3 channel(s), expected 1 (convert RGB"),
        ((1, 9, 8, 8), {"channels": 3, "modality": "confocal"}, "confocal: 1 channel(s), expected 3"),
        ((1, 1, 8, 8), {}, "a single slice is a 2D image"),
        ((1, 5, 8, 8), {"min_depth": 9, "hint": "use a deeper stack"}, "5 slices is shallower than the 9 needed; use"),
        ((1, 8, 8, 5), {"min_depth": 9, "depth_axis": 2}, "5 slices"),
    ],
)
def test_check_stack_names_file_and_problem(shape, kwargs, message):
    with pytest.raises(InputError) as err:
        check_stack(_image(shape), **kwargs)
    text = str(err.value)
    assert text.startswith("scan.nii.gz: ") and message in text and "\n" not in text
    with pytest.raises(InputError):
        CheckStackd("image", **kwargs)({"image": _image(shape)})


def test_check_stack_accepts_good_stacks():
    check_stack(_image((1, 9, 8, 8)), channels=1, min_depth=9)
    check_stack(_image((3, 8, 8, 12)), channels=3, min_depth=9, depth_axis=2)
    assert OCTStackCheck(window_depth=9)(_image((1, 12, 8, 8)), "a.nii") == []
    warnings = OCTStackCheck(window_depth=9)(_image((1, 4, 8, 8)), "a.nii")
    assert len(warnings) == 1 and "padded by reflection" in warnings[0] and warnings[0].startswith("a.nii")


def test_depth_range_crops_and_moves_geometry():
    affine = torch.diag(torch.tensor([0.5, 1.0, 1.0, 1.0], dtype=torch.float64))
    img = MetaTensor(torch.arange(20.0).reshape(1, 20, 1, 1).expand(1, 20, 2, 2).clone(), affine=affine)
    slab = select_depth_range(img, [4, 13])
    assert slab.shape == (1, 9, 2, 2) and float(slab[0, 0, 0, 0]) == 4.0
    assert float(slab.affine[0, 3]) == pytest.approx(2.0)  # 4 slices x 0.5 mm
    assert select_depth_range(img, None) is img
    assert select_depth_range(img, [-9, None]).shape[1] == 9
    with pytest.raises(InputError, match="selects no slice"):
        select_depth_range(img, [30, 40])
    with pytest.raises(InputError, match=r"must be \[start, stop\]"):
        select_depth_range(img, [1, 2, 3])
    # per-item range wins over the default; another depth axis
    d = DepthRanged("image", depth_range=[0, 9])({"image": img, "depth_range": [10, 19]})
    assert float(d["image"][0, 0, 0, 0]) == 10.0
    side = MetaTensor(torch.rand(1, 2, 2, 20))
    assert DepthRanged("image", [2, 11], depth_axis=2)({"image": side})["image"].shape == (1, 2, 2, 9)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_slab_augmentation_shapes(spatial_dims):
    x = torch.rand(3, 12, 16, 16)
    depth = 9 if spatial_dims == 3 else 1
    aug = slab_augmentation("image", spatial_dims=spatial_dims, depth=depth)
    aug.set_random_state(3)
    y = aug({"image": x})["image"]
    assert tuple(y.shape) == ((3, 9, 16, 16) if spatial_dims == 3 else (3, 16, 16))
    assert training_patch_size(spatial_dims, 9, 8) == ([9, 8, 8] if spatial_dims == 3 else [8, 8])
    with pytest.raises(ValueError):
        slab_augmentation(spatial_dims=2, depth=9)


def _extent(mask: np.ndarray, axis: int) -> int:
    other = tuple(a for a in range(mask.ndim) if a != axis)
    idx = np.flatnonzero(mask.any(axis=other))
    return int(idx[-1] - idx[0] + 1)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_zoom_keeps_the_en_face_aspect_ratio(spatial_dims):
    # seed 000: one zoom factor, 0.9-1.1, for the en-face plane; a square must stay a square and depth untouched
    size = 64
    square = torch.zeros(size, size)
    square[16:48, 16:48] = 1.0
    x = square.expand(1, 5, size, size).clone() if spatial_dims == 3 else square[None].clone()
    if spatial_dims == 3:
        x[0, 2] *= 0.5  # slices differ: a depth resampling would mix them
    aug = slab_augmentation("image", spatial_dims=3, depth=5, flip_prob=0.0) if spatial_dims == 3 else None
    zoom = aug.transforms[1] if aug is not None else RandEnFaceZoomd("image", min_zoom=0.9, max_zoom=1.1)
    assert isinstance(zoom, RandEnFaceZoomd)
    factors, ratios = [], []
    for seed in range(12):
        t = aug if aug is not None else zoom
        t.set_random_state(seed)
        y = np.asarray(t({"image": x})["image"])[0]
        plane = y[1] if spatial_dims == 3 else y
        factors.append(zoom.factor)
        h, w = _extent(plane > 0.5, 0), _extent(plane > 0.5, 1)
        assert abs(h - 32 * zoom.factor) <= 2 and h == w, (seed, zoom.factor, h, w)
        ratios.append(h / w)
        if spatial_dims == 3:  # depth not resampled: slice 2 stays half as bright as slice 1
            np.testing.assert_allclose(y[2], 0.5 * y[1], atol=1e-5)
    assert min(factors) < 0.95 and max(factors) > 1.05 and all(0.9 <= f <= 1.1 for f in factors)
    assert ratios == [1.0] * len(ratios)


def test_slab_augmentation_is_reproducible():
    x = torch.rand(1, 12, 16, 16)
    outs = []
    for _ in range(2):
        aug = slab_augmentation("image")
        aug.set_random_state(7)
        outs.append(np.asarray(aug({"image": x})["image"]))
    assert np.array_equal(outs[0], outs[1])
