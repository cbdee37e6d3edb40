"""Human macular OCT B-scans per retinal class (NORMAL, DRUSEN, CNV, DME) with their ground truth (seed 002).

Each B-scan is a horizontal cut through the fovea, as in the public OCT class sets (Kermany et al. 2018): vitreous on
top, the retinal layers from the ILM down to the RPE with the foveal pit in the middle, the choroid below, speckle.
The class adds its lesions: DRUSEN lift the RPE in dome-shaped bumps filled with medium-reflective material; CNV puts a
bright fibrovascular mass above a disrupted RPE with dark subretinal fluid beside it; DME thickens the retina and fills
the inner nuclear / outer plexiform layers with dark cystoid pockets. The generator returns the layer boundaries and
the lesion mask it drew, so a translation can be scored against structure it knows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from medtranslate.data.samples._common import check_shape, rng_for, smooth_field, speckle
from medtranslate.data.samples.oct import OCT_LAYERS

__all__ = ["RETINA_CLASSES", "oct_bscan"]

#: The retinal classes of the public OCT sets (Kermany et al. 2018), in label order.
RETINA_CLASSES: tuple[str, ...] = ("NORMAL", "DRUSEN", "CNV", "DME")
_VITREOUS, _SCLERA = 0.04, 0.18


def _check_label(label: str) -> str:
    name = str(label).upper()
    if name not in RETINA_CLASSES:
        raise ValueError(f"unknown retinal class {label!r}: use one of {', '.join(RETINA_CLASSES)}")
    return name


def oct_bscan(
    shape: Sequence[int] = (256, 256), seed: int = 0, label: str = "NORMAL"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A macular OCT B-scan of one retinal class, its layer boundaries and its lesion mask.

    What it models: the ILM at about a third of the depth with a foveal pit at the scan's centre (depth and width drawn
    from ``seed``), the layers of :data:`~medtranslate.data.samples.OCT_LAYERS` below it (thinning towards the fovea
    for the inner ones), a gentle curvature of the whole retina, depth attenuation and Rayleigh speckle. Lesions:

    - ``"DRUSEN"``: 3-6 dome-shaped RPE elevations near the fovea, filled with medium reflectivity;
    - ``"CNV"``: a bright, irregular fibrovascular mass over a broken RPE, dark subretinal fluid over and beside it;
    - ``"DME"``: a thicker central retina with 4-9 dark cystoid pockets in the inner nuclear / outer plexiform layers.

    Args:
        shape: (depth, width) in pixels, each >= 32.
        seed: non-negative seed; the same seed and label give the same image.
        label: one of :data:`RETINA_CLASSES`.

    Returns:
        ``(image, boundaries, lesions)``: float32 ``(H, W)`` reflectivity in ``[0, 1]``; float32
        ``(len(OCT_LAYERS) + 1, W)`` row positions of the layer boundaries (ILM first, the choroid's bottom last);
        bool ``(H, W)`` mask of the lesion pixels (drusen, CNV mass and fluid, cysts; empty for NORMAL).

    Raises:
        ValueError: for a bad shape, seed or label.
    """
    h, w = check_shape(shape, 2, 32, "oct_bscan")
    name = _check_label(label)
    rng = rng_for(seed, 2, 0, RETINA_CLASSES.index(name))
    noise_rng = rng_for(seed, 2, 1)
    x = np.arange(w, dtype=np.float32)
    yy = np.arange(h, dtype=np.float32)[:, None]
    fovea = (w - 1) / 2.0 + rng.uniform(-0.04, 0.04) * w
    top = h * rng.uniform(0.28, 0.34) + h * rng.uniform(0.0, 0.05) * ((x - fovea) / w) ** 2 * 4  # retinal curvature
    thickness = h * rng.uniform(0.30, 0.34) * np.ones(w, np.float32)
    pit_width = w * rng.uniform(0.06, 0.09)
    pit = np.exp(-(((x - fovea) / pit_width) ** 2)).astype(np.float32)
    if name == "DME":  # macular oedema: a thicker centre, the pit filled in
        thickness = thickness * (1.0 + 0.35 * np.exp(-(((x - fovea) / (3 * pit_width)) ** 2)))
        pit = pit * 0.2
    lesions = np.zeros((h, w), bool)
    # boundaries: inner layers thin towards the fovea (the pit), the outer ones keep their thickness
    shares = np.array([s for _, s, _ in OCT_LAYERS], np.float32)
    inner = np.array([i < 5 for i in range(len(OCT_LAYERS))])
    widths = shares[:, None] * thickness[None, :] * np.where(inner[:, None], 1.0 - 0.75 * pit[None, :], 1.0)
    retina = widths[:-1].sum(axis=0)  # ILM -> bottom of the RPE
    rpe_bottom = top + thickness * (1.0 - shares[-1])  # the RPE stays where the thick retina puts it
    ilm = rpe_bottom - retina
    boundaries = np.concatenate([ilm[None], ilm[None] + np.cumsum(widths, axis=0)], axis=0).astype(np.float32)
    rpe_top = len(OCT_LAYERS) - 2  # index of the RPE's upper boundary in ``boundaries``
    if name == "DRUSEN":  # elevate the RPE (and the layers above it) in domes
        lift = np.zeros(w, np.float32)
        for _ in range(int(rng.integers(3, 7))):
            c = fovea + rng.uniform(-0.3, 0.3) * w
            r = w * rng.uniform(0.025, 0.06)
            lift = np.maximum(lift, h * rng.uniform(0.025, 0.05) * np.sqrt(np.clip(1 - ((x - c) / r) ** 2, 0, 1)))
        boundaries[: rpe_top + 1] -= lift[None, :]
        base = boundaries[rpe_top + 1] + 0.0  # the drusen sit between the lifted RPE and Bruch's membrane
        lesions |= (yy >= base[None, :] - lift[None, :]) & (yy < base[None, :]) & (lift[None, :] > 0.5)
    # reflectivity by layer
    img = np.full((h, w), _VITREOUS, np.float32)
    for i, (_, _, refl) in enumerate(OCT_LAYERS):
        band = (yy >= boundaries[i][None, :]) & (yy < boundaries[i + 1][None, :])
        img[band] = refl
    img[yy >= boundaries[-1][None, :]] = _SCLERA
    if name == "DRUSEN":
        img[lesions] = 0.55
        # the RPE rides on top of the drusen
        rpe = (yy >= boundaries[rpe_top][None, :]) & (yy < boundaries[rpe_top + 1][None, :] - 0.0)
        img[rpe] = OCT_LAYERS[rpe_top][2]
    elif name == "CNV":
        c = fovea + rng.uniform(-0.08, 0.08) * w
        r = w * rng.uniform(0.08, 0.13)
        rpe_y = boundaries[rpe_top][None, :]
        height = h * rng.uniform(0.05, 0.08)
        mass = (
            (np.abs(x - c)[None, :] < r)
            & (yy < rpe_y + 2)
            & (yy > rpe_y - height * np.sqrt(np.clip(1 - ((x - c) / r) ** 2, 0, 1))[None, :])
        )
        mass = ndimage.binary_opening(mass, iterations=1) if mass.any() else mass
        fluid_c = c + np.sign(rng.uniform(-1, 1)) * r * rng.uniform(0.9, 1.3)
        fr = w * rng.uniform(0.05, 0.09)
        fluid_depth = h * rng.uniform(0.03, 0.05) * np.sqrt(np.clip(1 - ((x - fluid_c) / fr) ** 2, 0, 1))
        ez = boundaries[rpe_top - 2][None, :]
        fluid = (yy < ez) & (yy > ez - fluid_depth[None, :]) & (fluid_depth[None, :] > 0.5)
        img[fluid] = 0.03
        img[mass] = 0.9 * smooth_field(rng, (h, w), 1.5, 0.7, 1.0)[mass]
        lesions |= mass | fluid
    elif name == "DME":
        top_cyst, bottom_cyst = boundaries[3], boundaries[6]  # INL .. ONL
        for _ in range(int(rng.integers(4, 10))):
            cx = fovea + rng.uniform(-0.18, 0.18) * w
            ix = int(np.clip(round(cx), 0, w - 1))
            cy = rng.uniform(top_cyst[ix], bottom_cyst[ix])
            ry, rx = h * rng.uniform(0.015, 0.035), w * rng.uniform(0.012, 0.03)
            cyst = ((yy - cy) / ry) ** 2 + ((x[None, :] - cx) / rx) ** 2 <= 1.0
            img[cyst] = 0.03
            lesions |= cyst
    # texture, blur (the axial / lateral resolution), depth attenuation, speckle
    img = img * smooth_field(noise_rng, (h, w), max(h, w) / 50.0, 0.85, 1.1)
    img = ndimage.gaussian_filter(img, (0.6, 1.2))
    depth = np.clip((yy - boundaries[0][None, :]) / max(h, 1), 0.0, None)
    img = img * np.exp(-1.2 * depth)
    img = speckle(img, noise_rng, "rayleigh", grain=0.7)
    img = np.clip(img / 1.1, 0.0, 1.0)
    return img.astype(np.float32), boundaries, lesions
