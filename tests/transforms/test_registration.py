"""En-face similarity registration: known rotations, scales, shifts and mirror images are recovered."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from medtranslate.data.samples import oct_volume
from medtranslate.transforms.registration import EnFaceRegistration, register_enface, warp_in_plane


def _tree_view(seed: int = 3, size: int = 64) -> np.ndarray:
    """A vessel mask of a sample eye (a branching tree, no symmetry) as a float image."""
    _, vessels = oct_volume((16, size, size), seed, return_vessels=True)
    return vessels.astype(np.float32)


@pytest.mark.parametrize(
    "angle, scale, shift, mirrored",
    [(6.0, 1.04, (2.0, -3.0), False), (-9.0, 0.96, (-1.5, 1.0), False), (93.0, 1.0, (1.0, 2.0), True)],
)
def test_recovers_a_known_transform(angle, scale, shift, mirrored):
    fixed = _tree_view()
    truth = EnFaceRegistration(angle, scale, shift, mirrored, 0.0, 0.0)
    # the moving view is the fixed one seen through the inverse: warping it back with the truth gives the fixed view
    inverse = np.linalg.inv(_linear(truth))
    c = (np.array(fixed.shape) - 1) / 2
    moving = ndimage.affine_transform(fixed, inverse, c - inverse @ (c + np.asarray(shift)), order=1)
    found = register_enface(fixed, moving)
    assert found.mirrored == mirrored
    assert abs((found.angle_deg - angle + 180) % 360 - 180) < 1.0
    assert found.scale == pytest.approx(scale, abs=0.015)
    assert np.allclose(found.shift, shift, atol=0.75)
    assert found.correlation_after > 0.9 > found.correlation_before
    laid = warp_in_plane(moving[None], found, fixed.shape)[0]
    inner = (slice(8, -8),) * 2  # away from the corners the moving view never covered
    assert np.corrcoef(laid[inner].ravel(), fixed[inner].ravel())[0, 1] > 0.9


def _linear(r: EnFaceRegistration) -> np.ndarray:
    a = np.radians(r.angle_deg)
    rot = r.scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return rot @ np.diag([1.0, -1.0]) if r.mirrored else rot


def test_inverted_fixed_view_and_other_sizes():
    """OCT shadows are dark: ``invert_fixed`` matches them to bright stained vessels; the moving grid may be larger."""
    fixed = _tree_view()
    moving = np.pad(fixed, 8)  # same pixel size, 16 more pixels a side, centred
    found = register_enface(1.0 - fixed, moving, invert_fixed=True, any_orientation=False)
    assert abs(found.angle_deg) < 1.0 and found.scale == pytest.approx(1.0, abs=0.015)
    assert np.allclose(found.shift, (0.0, 0.0), atol=0.75)


def test_warp_keeps_leading_axes_and_identity_is_exact():
    stack = np.random.default_rng(0).random((3, 4, 20, 24)).astype(np.float32)
    same = EnFaceRegistration(0.0, 1.0, (0.0, 0.0), False, 1.0, 1.0)
    out = warp_in_plane(stack, same, (20, 24))
    assert out.shape == (3, 4, 20, 24) and np.allclose(out, stack, atol=1e-5)


def test_refuses_bad_views():
    with pytest.raises(ValueError, match="2D"):
        register_enface(np.zeros((4, 4, 4)), np.zeros((4, 4)))
    with pytest.raises(ValueError, match="no contrast"):
        register_enface(np.ones((16, 16)), _tree_view(size=16))


def test_large_views_search_on_smaller_copies():
    """Views larger than ``search_size`` are searched on smoothed, smaller copies, then refined at full size."""
    fixed = ndimage.zoom(_tree_view(size=64), 3.0, order=1)  # 192 pixels a side: searched at 96
    truth = EnFaceRegistration(-7.0, 1.03, (4.0, -2.5), False, 0.0, 0.0)
    inverse = np.linalg.inv(_linear(truth))
    c = (np.array(fixed.shape) - 1) / 2
    moving = ndimage.affine_transform(fixed, inverse, c - inverse @ (c + np.asarray(truth.shift)), order=1)
    found = register_enface(fixed, moving, any_orientation=False)
    assert abs(found.angle_deg - truth.angle_deg) < 0.5 and found.scale == pytest.approx(1.03, abs=0.01)
    assert np.allclose(found.shift, truth.shift, atol=0.75)


def test_different_pixel_sizes_use_the_scale_prior():
    """A moving view with pixels half the fixed one's size: scale 2 moving pixels per fixed pixel, found as such."""
    fixed = _tree_view(size=64)
    truth = EnFaceRegistration(5.0, 2.0, (3.0, -2.0), False, 0.0, 0.0)
    inverse = np.linalg.inv(_linear(truth))
    c_f, c_m = (np.array(fixed.shape) - 1) / 2, (np.array((128, 128)) - 1) / 2
    # moving(q) = fixed(p) with q = A (p - c_f) + c_m + shift
    moving = ndimage.affine_transform(
        fixed, inverse, c_f - inverse @ (c_m + np.asarray(truth.shift)), (128, 128), order=1
    )
    found = register_enface(fixed, moving, scale_prior=2.0, any_orientation=False)
    assert abs(found.angle_deg - 5.0) < 0.5 and found.scale == pytest.approx(2.0, rel=0.01)
    assert np.allclose(found.shift, truth.shift, atol=1.0) and found.correlation_after > 0.9
