"""OCT-like retinal volumes: curved reflectivity layers, vessel shadows, depth attenuation and speckle (seed 000)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from medtranslate.data.samples._common import (
    VesselTree,
    check_shape,
    grow_vessel_tree,
    render_segments,
    rng_for,
    smooth_field,
    speckle,
)

__all__ = ["OCT_LAYERS", "oct_volume"]

#: Retinal layers from the inner limiting membrane (top of the RNFL) down to the choroid:
#: (name, share of the retinal thickness, reflectivity). Bright: nerve fibres, plexiform layers, ellipsoid zone, RPE;
#: dark: nuclear layers and photoreceptor inner segments.
OCT_LAYERS: tuple[tuple[str, float, float], ...] = (
    ("RNFL", 0.09, 0.80),
    ("GCL", 0.07, 0.42),
    ("IPL", 0.12, 0.58),
    ("INL", 0.09, 0.22),
    ("OPL", 0.06, 0.50),
    ("ONL", 0.20, 0.12),
    ("ELM", 0.02, 0.40),
    ("IS", 0.06, 0.18),
    ("EZ", 0.03, 0.78),
    ("OS", 0.06, 0.28),
    ("RPE", 0.06, 0.95),
    ("choroid", 0.14, 0.50),
)
_VITREOUS, _SCLERA, _NERVE_HEAD, _BLOOD = 0.02, 0.22, 0.35, 0.55


def oct_volume(
    shape: Sequence[int] = (32, 64, 64),
    seed: int = 0,
    speckle_kind: str = "rayleigh",
    return_layers: bool = False,
    return_vessels: bool = False,
    return_tree: bool = False,
) -> np.ndarray | tuple[np.ndarray, ...] | tuple[np.ndarray | VesselTree, ...]:
    """A log-scaled OCT volume of a retina centred on the optic disc (as seed 000's mouse OCT).

    What it models, along depth (axis 0, the A-scan): dark vitreous; the retinal layers of :data:`OCT_LAYERS` as
    curved surfaces (a bowl, tilted, gently undulating; nerve-fibre layer thickening towards the disc; a cup at the
    disc where the outer layers end); choroid and sclera below. Vessels radiate from the disc in the inner retina and
    cast vertical shadows on every deeper layer. Light is attenuated with depth; multiplicative speckle
    ``Y = X (1 + F)`` and a noise floor are added before log compression, as OCT scanners display it.

    Args:
        shape: (depth, height, width); depth >= 16, height and width >= 16.
        seed: non-negative seed; the same seed gives the same volume.
        speckle_kind: ``"rayleigh"`` (fully developed speckle), ``"gamma"`` or ``"none"``.
        return_layers: also return the layer boundaries.
        return_vessels: also return the eye's vessel mask: the ground truth of what an en-face view should show.
        return_tree: also return the eye's :class:`VesselTree` (e.g. for :func:`confocal_stack` to draw the
            flat-mount of the same eye).

    Returns:
        float32 ``(D, H, W)`` in ``[0, 1]``; with ``return_layers``, also ``boundaries``: float32
        ``(len(OCT_LAYERS) + 1, H, W)``, the depth (in voxels, increasing) of the top of each layer and the bottom of
        the last one; with ``return_vessels``, last, the bool ``(H, W)`` en-face vessel mask (the vessels' coverage
        >= 0.5, the same tree that draws the lumens and shadows); with ``return_tree``, last, the tree.
    """
    d, h, w = check_shape(shape, 3, 16, "oct_volume")
    rng = rng_for(seed, 0, 0)
    noise_rng = rng_for(seed, 0, 1)
    y, x = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    r = np.hypot(y, x)
    lateral = max(h, w) / 8.0

    # surfaces: bowl + tilt + undulation; thicknesses with smooth variations
    total = d * rng.uniform(0.50, 0.56)
    ilm = d * (0.24 - 0.07 * r**2 + rng.uniform(-0.03, 0.03) * x + rng.uniform(-0.03, 0.03) * y)
    ilm = ilm + smooth_field(rng, (h, w), lateral, -0.02 * d, 0.02 * d)
    shares = np.array([s for _, s, _ in OCT_LAYERS])
    thick = [total * s / shares.sum() * smooth_field(rng, (h, w), lateral, 0.85, 1.15) for s in shares]
    disc_r = rng.uniform(0.10, 0.14)
    thick[0] = thick[0] * (1.0 + 1.2 * np.exp(-((r / 0.3) ** 2)))  # nerve fibres converge on the disc
    bounds = np.empty((len(OCT_LAYERS) + 1, h, w), np.float32)
    bounds[0] = ilm
    bounds[1:] = ilm + np.cumsum(thick, axis=0)
    cup = 0.10 * d * np.exp(-((r / (0.8 * disc_r)) ** 2))
    bounds[0] = np.minimum(bounds[0] + cup, bounds[1] - 0.05)  # the cup deepens the ILM, never past the RNFL
    in_disc = np.clip((disc_r - r) / 0.03, 0.0, 1.0)  # 1 inside the nerve head, ramping to 0 at its margin

    # vessels radiating from the disc, lying at the RNFL/GCL border
    n_trunks = int(rng.integers(4, 7))
    start = rng.uniform(0, 2 * math.pi)
    base_r = max(h, w) * 0.012 + 0.4
    trunks = [(start + k * 2 * math.pi / n_trunks + rng.normal(0, 0.15), base_r, 0.0, k % 2) for k in range(n_trunks)]
    centre = ((h - 1) / 2, (w - 1) / 2)
    tree = grow_vessel_tree(
        rng,
        centre,
        trunks,
        lambda a, b: 0 <= a < h and 0 <= b < w,
        step=max(h, w) / 48.0,
        min_radius=0.45,
        branch_every=9.0,
        jitter=0.10,
    )
    vessel, _ = render_segments((h, w), tree.starts, tree.ends, tree.radii)
    vessel_z = bounds[1]
    vessel_half = np.maximum(0.6, 0.5 * thick[0].mean() * vessel)

    # reflectivity by partial-volume integration of every layer over each voxel's depth interval
    z = np.arange(d, dtype=np.float32)[:, None, None]

    def overlap(top: np.ndarray | float, bottom: np.ndarray | float) -> np.ndarray:
        return np.clip(np.minimum(z + 1, bottom) - np.maximum(z, top), 0.0, 1.0)

    choroid_texture = smooth_field(rng, (d, h, w), (1.0, 1.5, 1.5), 0.55, 1.35)
    refl = _VITREOUS * overlap(-np.inf, bounds[0])
    for k, (name, _, value) in enumerate(OCT_LAYERS):
        v = value * choroid_texture if name == "choroid" else value
        if k >= 3:  # the nuclear and outer layers end at the disc margin; nerve tissue fills the disc
            v = v * (1 - in_disc) + _NERVE_HEAD * in_disc
        refl = refl + v * overlap(bounds[k], bounds[k + 1])
    refl = refl + _SCLERA * overlap(bounds[-1], np.inf) * np.exp(-(z - bounds[-1]) / (0.15 * d))
    lumen = (np.abs(z + 0.5 - vessel_z) < vessel_half) & (vessel >= 0.5)
    refl = np.where(lumen, _BLOOD, refl)
    below = np.clip(z + 0.5 - (vessel_z + vessel_half), 0.0, 1.0)  # everything under a vessel is shadowed
    refl = refl * (1.0 - 0.75 * vessel * below)
    depth_in = np.clip(z - bounds[0], 0.0, None) / total
    refl = refl * np.exp(-0.6 * depth_in)

    signal = speckle(refl, noise_rng, kind=speckle_kind, grain=0.6)
    floor_kind = "none" if speckle_kind == "none" else "rayleigh"
    floor = speckle(np.full(refl.shape, 0.015, np.float32), noise_rng, kind=floor_kind)
    img = np.log1p(20.0 * (signal + floor)) / math.log1p(20.0 * 1.2)
    img = np.clip(img, 0.0, 1.0).astype(np.float32)
    out = (img, bounds) if return_layers else (img,)
    if return_vessels:
        out = (*out, vessel >= 0.5)
    if return_tree:
        out = (*out, tree)
    return out if len(out) > 1 else img
