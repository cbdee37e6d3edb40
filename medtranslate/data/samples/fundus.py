"""Fundus-like colour photographs with their vessel masks (seed 004: vessel map -> fundus)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from medtranslate.data.samples._common import check_shape, grow_vessel_tree, render_segments, rng_for, smooth_field

__all__ = ["fundus_image"]

# reflectance of the fundus background (orange-red: choroidal blood under the RPE), the disc and the vessels
_BACKGROUND = np.array([0.80, 0.38, 0.17], np.float32)
_DISC = np.array([0.98, 0.86, 0.62], np.float32)
# fraction of the light each vessel type absorbs per channel: haemoglobin absorbs green most, so vessels are darkest
# (most contrasted) in green, and veins (deoxygenated, wider) are darker than arteries
# lesion colours per retinal class (seed 002): drusen and exudates yellow-white, a CNV membrane grey-green
_LESIONS: dict[str, np.ndarray | None] = {
    "NORMAL": None,
    "DRUSEN": np.array([0.95, 0.85, 0.50], np.float32),
    "CNV": np.array([0.55, 0.55, 0.42], np.float32),
    "DME": np.array([1.00, 0.92, 0.45], np.float32),
}
_ABSORB = {0: np.array([0.18, 0.50, 0.40], np.float32), 1: np.array([0.32, 0.66, 0.55], np.float32)}


def fundus_image(
    shape: Sequence[int] = (256, 256), seed: int = 0, label: str = "NORMAL", lesion_mask: bool = False
) -> tuple[np.ndarray, ...]:
    """A colour fundus photograph and its binary vessel mask; optionally with the lesions of a retinal class.

    What it models: a circular field of view (black outside) with vignetting; an orange-red background with smooth
    choroidal texture; a bright yellow optic disc with a paler cup on the nasal side; a darker macula with the fovea
    about 2.5 disc diameters temporal to the disc; arteries and veins leaving the disc as four pairs of trunks, the
    temporal ones arching around the macula, branching and tapering. Vessels are darkest in green. Left or right eye
    (disc on the right or the left) and every shape are drawn from ``seed``.

    The lesions of ``label`` (seed 002's classes, drawn from their own random stream so that a NORMAL eye is the same
    image with or without this option): DRUSEN, round yellow-white deposits scattered around the macula; CNV, a
    grey-green membrane at the macula ringed by dark-red haemorrhage; DME, hard exudates (small bright yellow dots)
    in a partial ring around a darker, swollen macula.

    Args:
        shape: (height, width) in pixels, each >= 32.
        seed: non-negative seed; the same seed gives the same image.
        label: ``"NORMAL"``, ``"DRUSEN"``, ``"CNV"`` or ``"DME"``.
        lesion_mask: also return the lesion mask.

    Returns:
        ``(image, mask)``: float32 ``(H, W, 3)`` RGB in ``[0, 1]``, and a bool ``(H, W)`` vessel mask that is exactly
        the set of pixels the vessels cover (coverage >= 0.5), all inside the field of view; with ``lesion_mask``
        a third item, the bool ``(H, W)`` mask of the lesions drawn.

    Raises:
        ValueError: for a bad shape, seed or label.
    """
    label = str(label).upper()
    if label not in _LESIONS:
        raise ValueError(f"unknown retinal class {label!r}: use one of {', '.join(_LESIONS)}")
    h, w = check_shape(shape, 2, 32, "fundus_image")
    rng = rng_for(seed, 4, 0)
    noise_rng = rng_for(seed, 4, 1)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    radius = 0.47 * min(h, w)
    side = 1.0 if rng.random() < 0.5 else -1.0  # +1: disc right of centre (a right eye seen from the front)
    disc_r = radius * rng.uniform(0.11, 0.13)
    disc = (cy + radius * rng.uniform(-0.04, 0.04), cx + side * radius * rng.uniform(0.30, 0.36))
    mac = (disc[0] + radius * rng.uniform(0.02, 0.08), disc[1] - side * 5.0 * disc_r)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    fov = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2

    def inside(y: float, x: float) -> bool:  # within the field of view, outside the foveal avascular zone
        in_fov = (y - cy) ** 2 + (x - cx) ** 2 <= (radius * 0.98) ** 2
        return in_fov and (y - mac[0]) ** 2 + (x - mac[1]) ** 2 > (0.8 * disc_r) ** 2

    # trunks: (heading, radius px, curl per step, type); headings measured from +x with +y downwards
    step = max(radius / 60.0, 1.0)
    arcade = step / (0.55 * radius)  # curvature that bends the temporal arcades around the macula
    base = max(radius * 0.018, 0.9)
    trunks = []
    for up in (-1.0, 1.0):  # superior, inferior
        for temporal in (True, False):
            dx = -side * 0.35 if temporal else side * 0.9  # temporal: towards the macula, away from the disc
            heading = math.atan2(up, dx)
            curl = side * up * arcade if temporal else -side * up * 0.25 * arcade
            for vtype, offset in ((0, -0.12), (1, 0.12)):  # an artery and a (wider) vein side by side
                r = base * (1.25 if vtype else 1.0) * (1.0 if temporal else 0.8)
                trunks.append((heading + offset * up + rng.normal(0, 0.08), r, curl, vtype))
    tree = grow_vessel_tree(
        rng, disc, trunks, inside, step=step, min_radius=max(0.35, base * 0.3), branch_every=10.0, jitter=0.08
    )
    cover, vtype = render_segments((h, w), tree.starts, tree.ends, tree.radii, values=tree.vessel_type)
    mask = (cover >= 0.5) & fov

    # background reflectance: choroidal texture, vignetting, macular pigment, fovea
    texture = smooth_field(noise_rng, (h, w), sigma=max(h, w) / 40.0, lo=0.88, hi=1.08)
    r2 = ((yy - cy) ** 2 + (xx - cx) ** 2) / radius**2
    vignette = 1.0 - 0.38 * r2
    dmac = np.hypot(yy - mac[0], xx - mac[1])
    macula = 1.0 - 0.38 * np.exp(-((dmac / (2.2 * disc_r)) ** 2)) - 0.12 * np.exp(-((dmac / (0.45 * disc_r)) ** 2))
    img = _BACKGROUND[None, None, :] * (texture * vignette * macula)[..., None]
    # optic disc: bright, slightly tall oval with a soft rim and a paler cup
    dd = np.hypot((yy - disc[0]) / 1.1, xx - disc[1]) / disc_r
    rim = np.clip((1.15 - dd) / 0.3, 0.0, 1.0)[..., None]
    img = img * (1 - rim) + _DISC[None, None, :] * rim
    cup = np.clip((0.55 - np.hypot((yy - disc[0]) / 1.1, xx - disc[1] + side * 0.15 * disc_r) / disc_r) / 0.2, 0, 1)
    img = img + 0.12 * cup[..., None]
    # vessels absorb per channel; a blurred coverage gives them a rounded profile
    for t, absorb in _ABSORB.items():
        c = ndimage.gaussian_filter(cover * (vtype == t), 0.5)
        img = img * (1.0 - c[..., None] * absorb[None, None, :])
    lesions = _draw_lesions(img, label, rng_for(seed, 4, 2), yy, xx, mac, disc_r, fov)
    img = img + noise_rng.normal(0.0, 0.008, img.shape)
    img = np.clip(img, 0.0, 1.0) * fov[..., None]
    if lesion_mask:
        return img.astype(np.float32), mask, lesions
    return img.astype(np.float32), mask


def _spot(yy: np.ndarray, xx: np.ndarray, cy: float, cx: float, r: float) -> np.ndarray:
    return np.clip(1.5 - np.hypot(yy - cy, xx - cx) / r, 0.0, 1.0)  # soft-edged disc, 1 inside r / 2


def _draw_lesions(
    img: np.ndarray,
    label: str,
    rng: np.random.Generator,
    yy: np.ndarray,
    xx: np.ndarray,
    mac: tuple[float, float],
    disc_r: float,
    fov: np.ndarray,
) -> np.ndarray:
    """Paint the lesions of ``label`` into ``img`` (in place) around the macula; return their mask."""
    cover = np.zeros(img.shape[:2], np.float32)
    colour = _LESIONS[label]
    if label == "DRUSEN":
        for _ in range(int(rng.integers(12, 25))):
            a, d = rng.uniform(0, 2 * math.pi), disc_r * rng.uniform(0.2, 2.0)
            r = disc_r * rng.uniform(0.07, 0.16)
            cover = np.maximum(cover, _spot(yy, xx, mac[0] + d * math.sin(a), mac[1] + d * math.cos(a), r))
    elif label == "CNV":
        cy, cx = mac[0] + disc_r * rng.uniform(-0.3, 0.3), mac[1] + disc_r * rng.uniform(-0.3, 0.3)
        r = disc_r * rng.uniform(0.6, 0.9)
        ring = _spot(yy, xx, cy, cx, 1.7 * r)
        img *= 1.0 - 0.55 * ring[..., None] * np.array([0.2, 0.75, 0.75], np.float32)  # dark-red haemorrhage
        cover = _spot(yy, xx, cy, cx, r)
    elif label == "DME":
        dmac = np.hypot(yy - mac[0], xx - mac[1])
        img *= (1.0 - 0.25 * np.exp(-((dmac / (1.2 * disc_r)) ** 2)))[..., None]  # swollen, darker macula
        start, span = rng.uniform(0, 2 * math.pi), rng.uniform(1.2 * math.pi, 2 * math.pi)
        for _ in range(int(rng.integers(15, 30))):
            a, d = start + rng.uniform(0, span), disc_r * rng.uniform(1.0, 1.6)
            r = disc_r * rng.uniform(0.05, 0.1)
            cover = np.maximum(cover, _spot(yy, xx, mac[0] + d * math.sin(a), mac[1] + d * math.cos(a), r))
    if colour is not None:
        c = ndimage.gaussian_filter(cover, 0.5)[..., None]
        img[...] = img * (1 - c) + colour[None, None, :] * c
    return (cover >= 0.5) & fov
