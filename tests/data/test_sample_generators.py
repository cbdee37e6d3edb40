"""Sample generators: deterministic per seed, and plausible (value ranges, layer order, colours, masks)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from medtranslate.data.samples import (
    HEAD_TISSUES,
    OCT_LAYERS,
    confocal_stack,
    ct_head,
    fundus_image,
    head_affine,
    head_labels,
    mr_head,
    oct_volume,
)
from medtranslate.data.samples._common import render_blobs, render_segments, speckle

GENERATORS = {
    "oct": lambda seed: oct_volume((16, 24, 24), seed),
    "confocal": lambda seed: confocal_stack((3, 32, 32), seed),
    "head_labels": lambda seed: head_labels((20, 20, 16), seed),
    "ct": lambda seed: ct_head((20, 20, 16), seed),
    "mr": lambda seed: mr_head((20, 20, 16), seed),
    "fundus": lambda seed: fundus_image((48, 48), seed),
}


def _arrays(out) -> list[np.ndarray]:
    return list(out) if isinstance(out, tuple) else [out]


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_same_seed_same_output_different_seed_different(name):
    make = GENERATORS[name]
    first, again, other = _arrays(make(5)), _arrays(make(5)), _arrays(make(6))
    for a, b in zip(first, again):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert not np.array_equal(first[0], other[0])


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda: oct_volume((8, 32, 32)), ">= 16"),
        (lambda: oct_volume((32, 32)), "3 sizes"),
        (lambda: confocal_stack((3, 16, 16)), ">= 32"),
        (lambda: fundus_image((16, 16)), ">= 32"),
        (lambda: ct_head((64, 64, 32), seed=-1), "non-negative"),
        (lambda: mr_head((64, 64, 32), seed=1.5), "non-negative"),
    ],
)
def test_bad_arguments(call, fragment):
    with pytest.raises(ValueError, match=fragment):
        call()


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_render_segments_matches_distance(spatial_dims):
    shape = (20,) * spatial_dims
    p, q = np.full((1, spatial_dims), 5.0), np.full((1, spatial_dims), 14.0)
    cover, value = render_segments(shape, p, q, np.array([2.5]), values=np.array([7.0]))
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1).astype(float)
    d = q[0] - p[0]
    t = np.clip(((grid - p[0]) @ d) / (d @ d), 0, 1)
    dist = np.linalg.norm(grid - p[0] - t[..., None] * d, axis=-1)
    assert np.array_equal(cover >= 0.5, dist <= 2.5)
    assert set(np.unique(value[cover > 0])) == {7.0}


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_render_blobs_inside_the_ellipsoid(spatial_dims):
    shape = (24,) * spatial_dims
    centre = np.full((1, spatial_dims), 12.0)
    radii = np.array([[3.0] * (spatial_dims - 1) + [6.0]])
    out = render_blobs(shape, centre, radii, angles=np.array([0.0]))
    assert out[(12,) * spatial_dims] == 1.0
    assert out[(12,) * (spatial_dims - 1) + (17,)] > 0 and out[(17,) + (12,) * (spatial_dims - 1)] == 0


@pytest.mark.parametrize("kind, expected_cv", [("gamma", 0.5), ("rayleigh", 0.52)])
def test_speckle_is_multiplicative_with_unit_mean(kind, expected_cv):
    rng = np.random.default_rng(0)
    y = speckle(np.full((200, 200), 2.0, np.float32), rng, kind=kind, looks=4.0)
    factor = y / 2.0  # Y = X (1 + F)
    assert abs(factor.mean() - 1.0) < 0.01
    assert abs(factor.std() - expected_cv) < 0.03  # gamma: 1/sqrt(looks); Rayleigh: sqrt(4/pi - 1)
    assert speckle(np.zeros((4, 4), np.float32), rng, kind=kind).max() == 0.0
    with pytest.raises(ValueError, match="unknown speckle"):
        speckle(y, rng, kind="poisson")


def test_oct_layers_ordered_and_reflectivities():
    img, bounds = oct_volume((48, 48, 48), 1, speckle_kind="none", return_layers=True)
    assert img.dtype == np.float32 and img.shape == (48, 48, 48) and 0 <= img.min() and img.max() <= 1
    assert bounds.shape == (len(OCT_LAYERS) + 1, 48, 48)
    assert np.all(np.diff(bounds, axis=0) > 0)  # ILM above RNFL/GCL border above ... above the choroid's floor
    assert bounds.min() > 0 and bounds.max() < 48
    yy, xx = np.mgrid[0:48, 0:48]
    away = np.hypot(yy - 23.5, xx - 23.5) > 12  # outside the optic disc
    z = np.arange(48)[:, None, None]

    def layer_mean(k: int) -> float:
        inside = (z >= np.ceil(bounds[k])) & (z + 1 <= np.floor(bounds[k + 1])) & away
        return float(np.median(img[inside]))  # the median ignores the few shadowed columns

    means = {name: layer_mean(k) for k, (name, _, _) in enumerate(OCT_LAYERS) if name not in ("ELM", "EZ")}
    vitreous = float(img[(z + 1 <= np.floor(bounds[0])) & away].mean())
    assert vitreous < means["ONL"] < means["INL"] < means["IPL"] < means["RNFL"]
    assert means["RPE"] > means["OS"] > means["ONL"] and means["OPL"] > means["ONL"]


def test_oct_vessel_shadows_are_vertical():
    img, bounds = oct_volume((48, 48, 48), 2, speckle_kind="none", return_layers=True)

    def enface(k: int) -> np.ndarray:  # per A-scan, the voxel at the middle of layer k
        mid = np.floor((bounds[k] + bounds[k + 1]) / 2).astype(int)
        return np.take_along_axis(img, mid[None], 0)[0]

    names = [n for n, _, _ in OCT_LAYERS]
    rpe, onl = enface(names.index("RPE")), enface(names.index("ONL"))
    yy, xx = np.mgrid[0:48, 0:48]
    away = np.hypot(yy - 23.5, xx - 23.5) > 12
    shadow = (rpe < 0.8 * np.median(rpe[away])) & away
    assert 0.005 < shadow.mean() < 0.3  # vessels shadow a few A-scans
    assert np.median(onl[shadow]) < 0.9 * np.median(onl[away & ~shadow])  # the same columns, higher up


def test_oct_speckle_roughens_layers():
    clean = oct_volume((32, 32, 32), 3, speckle_kind="none")
    noisy = oct_volume((32, 32, 32), 3)
    grad = lambda v: np.abs(np.diff(v, axis=2)).mean()  # noqa: E731
    assert grad(noisy) > 3 * grad(clean)
    assert abs(float(noisy.mean()) - float(clean.mean())) < 0.1


def test_confocal_channels_hold_their_structures():
    rgb, masks = confocal_stack((9, 64, 64), 4, return_masks=True)
    assert rgb.shape == (9, 64, 64, 3) and rgb.dtype == np.float32 and 0 <= rgb.min() and rgb.max() <= 1
    r, g, b = (rgb[..., c] for c in range(3))
    vessels, nuclei, cells = masks["vessels"], masks["nuclei"], masks["cells"]
    assert 0.01 < vessels.mean() < 0.3 and 0.02 < nuclei.mean() < 0.4
    assert 0 < cells.mean() < 0.03  # sparse T cells
    assert r[vessels].mean() > 0.35 and r[vessels].mean() > 2 * g[vessels].mean()
    only_nuclei = nuclei & ~vessels & ~cells
    assert b[only_nuclei].mean() > 0.35 and b[only_nuclei].mean() > 2 * r[only_nuclei].mean()
    assert g[cells].mean() > 0.35 and g[cells].mean() > 2 * r[cells & ~vessels].mean()
    background = ~(vessels | nuclei | cells)
    background = ~ndimage.binary_dilation(~background, iterations=2)
    assert max(float(rgb[..., c][background].mean()) for c in range(3)) < 0.12
    first = confocal_stack((9, 64, 64), 4, channel_first=True)
    assert np.array_equal(first, np.moveaxis(rgb, -1, 0))


def test_confocal_flat_mount_of_an_oct_eye_draws_its_tree_unregistered():
    """Given the OCT's tree, the flat-mount's vessels follow that eye's tree (far more overlap with its mask than with
    another eye's), moved a little (not the mask itself), the same for the same seed."""
    _, vessels, tree = oct_volume((24, 64, 64), 8, return_vessels=True, return_tree=True)
    _, other = oct_volume((24, 64, 64), 9, return_vessels=True)
    rgb, masks = confocal_stack((9, 64, 64), 3, return_masks=True, tree=tree)
    drawn = masks["vessels"].any(axis=0)

    def dice(a, b):
        return 2 * (a & b).sum() / (a.sum() + b.sum())

    assert dice(drawn, vessels) > 1.5 * dice(drawn, other)
    assert not np.array_equal(drawn, vessels)
    assert rgb[..., 0][masks["vessels"]].mean() > 0.35
    assert np.array_equal(rgb, confocal_stack((9, 64, 64), 3, tree=tree))
    _, registered = confocal_stack((9, 64, 64), 3, return_masks=True, tree=tree, flat_mount=False)
    assert dice(registered["vessels"].any(axis=0), vessels) > max(0.8, dice(drawn, vessels))


def test_ct_and_mr_share_anatomy_with_plausible_values():
    shape = (64, 64, 32)
    labels = head_labels(shape, 7)
    ct, mr = ct_head(shape, 7), mr_head(shape, 7)
    assert ct.shape == mr.shape == labels.shape == shape and ct.dtype == mr.dtype == np.float32
    assert np.array_equal(labels, head_labels(shape, 7))
    assert set(np.unique(labels)) == {t[0] for t in HEAD_TISSUES}
    core = {t[0]: ndimage.binary_erosion(labels == t[0]) for t in HEAD_TISSUES}

    def at(image, label):
        return float(np.median(image[core[label]] if core[label].any() else image[labels == label]))

    air, soft, fat, bone, marrow, csf, gm, wm = range(8)
    assert -1024 <= ct.min() and ct.max() <= 3071
    assert at(ct, air) < -990 and at(ct, bone) > 900 and at(ct, marrow) > 300
    assert 20 < at(ct, gm) < 50 and 20 < at(ct, wm) < 50 and at(ct, gm) > at(ct, wm)
    assert -5 < at(ct, csf) < 20 and np.percentile(ct[labels == fat], 10) < -50  # thin fat: partial volume
    assert mr.min() >= 0 and at(mr, air) < 40  # no HU: magnitude with Rician noise
    assert at(mr, wm) > at(mr, gm) > at(mr, csf) and at(mr, bone) < at(mr, gm)
    assert np.percentile(mr[labels == fat], 90) > at(mr, gm)  # bright fat (thin here: partial volume)
    brain = np.isin(labels, (gm, wm)).mean()
    assert 0.05 < brain < 0.4
    affine = head_affine(shape)
    centre = affine @ np.array([(shape[0] - 1) / 2, (shape[1] - 1) / 2, (shape[2] - 1) / 2, 1.0])
    assert np.allclose(centre[:3], 0) and np.all(np.diag(affine)[:3] > 0)


def test_fundus_colour_disc_and_vessel_mask():
    img, mask = fundus_image((128, 128), 8)
    assert img.shape == (128, 128, 3) and img.dtype == np.float32 and 0 <= img.min() and img.max() <= 1
    assert mask.dtype == bool and mask.shape == (128, 128)
    yy, xx = np.mgrid[0:128, 0:128]
    fov = np.hypot(yy - 63.5, xx - 63.5) <= 0.47 * 128
    assert img[~fov].max() == 0 and not mask[~fov].any()  # black outside the field of view, vessels inside it
    r, g, b = (img[..., c][fov].mean() for c in range(3))
    assert r > g > b  # orange-red fundus
    assert 0.03 < mask.mean() < 0.25
    ring = ndimage.binary_dilation(mask, iterations=2) & ~mask & fov
    assert img[..., 1][mask].mean() < 0.8 * img[..., 1][ring].mean()  # vessels darkest in green
    brightness = img.sum(-1)
    disc = brightness >= np.quantile(brightness[fov], 0.995)
    cy, cx = np.argwhere(disc).mean(0)
    assert np.hypot(cy - 63.5, cx - 63.5) > 10  # the bright optic disc sits off centre
    assert brightness[disc].mean() > 1.5 * np.median(brightness[fov])
