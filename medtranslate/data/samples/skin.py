"""Confocal skin slides (FCM + RCM) and H&E-like skin patches for the confocal2he bundle (seed 001).

Ex-vivo confocal mosaics of skin excisions (VivaScope 2500, 0.75 um/px) have two co-registered grayscale modes:
**FCM** (fluorescence, acridine orange) shows nuclei bright, densely packed in the epidermis and scattered in the
dermis; **RCM** (reflectance) shows collagen bundles of the dermis and the cytoplasm of keratinocytes bright, with
multiplicative speckle ``Y = X (1 + F)``. Background (no tissue) is dark in both. H&E scans (0.47 um/px) show the
same kind of tissue in transmitted light: nuclei purple (hematoxylin), stroma pink (eosin), glass white.

Everything is procedural in slide coordinates (value noise hashed from integer lattice points), so any region of an
arbitrarily large slide can be computed on its own and tiles join without seams: :func:`skin_region` draws one
region and :func:`write_skin_slide_pair` streams a slide of any size to tiled pyramidal TIFFs tile row by tile row.
The ground truth (the clean RCM) is returned beside the noisy one so despeckling can be scored.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from medtranslate.data.datalist import make_datalist, write_datalist
from medtranslate.data.samples._common import rng_for
from medtranslate.io.slide import write_pyramid_ome_tiff
from medtranslate.utils.atomic import atomic_path

__all__ = [
    "skin_region",
    "skin_confocal_pair",
    "he_patch",
    "histology_gray",
    "write_skin_slide_pair",
    "write_he_slide",
    "write_histology_dataset",
    "CONFOCAL_UM_PER_PX",
    "HE_UM_PER_PX",
    "HE_OD",
]

#: pixel size of the VivaScope 2500 confocal mosaics (seed 001, section 2.3.1).
CONFOCAL_UM_PER_PX = 0.75
#: pixel size of the H&E scans (Ventana, seed 001, section 2.3.2).
HE_UM_PER_PX = 0.47
#: optical densities (R, G, B) of hematoxylin and eosin (Ruifrok & Johnston, Anal. Quant. Cytol. Histol. 2001).
HE_OD: dict[str, tuple[float, float, float]] = {"hematoxylin": (0.65, 0.70, 0.29), "eosin": (0.07, 0.99, 0.11)}
_MASK32 = np.uint64(0xFFFFFFFF)


def _hash(iy: np.ndarray, ix: np.ndarray, seed: int, stream: int) -> np.ndarray:
    """Deterministic uniform [0, 1) values for integer lattice points (a 32-bit integer hash)."""
    h = (
        iy.astype(np.uint64) * np.uint64(374761393)
        + ix.astype(np.uint64) * np.uint64(668265263)
        + np.uint64((seed * 2246822519 + stream * 3266489917) & 0xFFFFFFFF)
    ) & _MASK32
    h = ((h ^ (h >> np.uint64(13))) * np.uint64(1274126177)) & _MASK32
    h = h ^ (h >> np.uint64(16))
    return (h.astype(np.float64) / 4294967296.0).astype(np.float32)


def _value_noise(y0: int, x0: int, h: int, w: int, spacing: tuple[float, float], seed: int, stream: int) -> np.ndarray:
    """Smooth value noise in [0, 1] on rows ``y0..y0+h`` and columns ``x0..x0+w`` of the slide (separable lerp)."""
    sy, sx = spacing
    gy = (np.arange(y0, y0 + h, dtype=np.float64) + 0.5) / sy
    gx = (np.arange(x0, x0 + w, dtype=np.float64) + 0.5) / sx
    iy, ix = np.floor(gy).astype(np.int64), np.floor(gx).astype(np.int64)
    fy, fx = (gy - iy).astype(np.float32), (gx - ix).astype(np.float32)
    fy, fx = fy * fy * (3 - 2 * fy), fx * fx * (3 - 2 * fx)
    ly = np.arange(iy.min(), iy.max() + 2)
    lx = np.arange(ix.min(), ix.max() + 2)
    lattice = _hash(ly[:, None] + (1 << 20), lx[None, :] + (1 << 20), seed, stream)  # offset keeps indices >= 0
    cy, cx = iy - ly[0], ix - lx[0]
    rows = lattice[:, cx] * (1 - fx)[None] + lattice[:, cx + 1] * fx[None]  # (lattice rows, w)
    return rows[cy] * (1 - fy)[:, None] + rows[cy + 1] * fy[:, None]


def _nearest_nucleus(
    y0: int, x0: int, h: int, w: int, spacing: float, presence: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Cellular (Worley) noise: distance to the nearest jittered lattice point that holds a nucleus, and its size.

    One candidate point per lattice cell, kept with probability ``presence`` (per pixel, so density can vary).
    """
    gy = (np.arange(y0, y0 + h, dtype=np.float64)[:, None] + 0.5) / spacing
    gx = (np.arange(x0, x0 + w, dtype=np.float64)[None, :] + 0.5) / spacing
    iy, ix = np.floor(gy).astype(np.int64) + (1 << 20), np.floor(gx).astype(np.int64) + (1 << 20)
    best = np.full((h, w), np.inf, np.float32)
    size = np.ones((h, w), np.float32)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            cy, cx = iy + dy, ix + dx
            py = cy - (1 << 20) + 0.15 + 0.7 * _hash(cy, cx, seed, 20)
            px = cx - (1 << 20) + 0.15 + 0.7 * _hash(cy, cx, seed, 21)
            d = (np.sqrt((gy - py) ** 2 + (gx - px) ** 2) * spacing).astype(np.float32)
            keep = _hash(cy, cx, seed, 22) < presence
            closer = keep & (d < best)
            best = np.where(closer, d, best)
            size = np.where(closer, 0.75 + 0.5 * _hash(cy, cx, seed, 23), size)
    return best, size


def _fractal(
    y0: int, x0: int, h: int, w: int, spacing: tuple[float, float], seed: int, stream: int, octaves: int = 3
) -> np.ndarray:
    total, amp, norm = np.zeros((h, w), np.float32), 1.0, 0.0
    for o in range(octaves):
        s = (spacing[0] / 2**o, spacing[1] / 2**o)
        total += amp * _value_noise(y0, x0, h, w, s, seed, stream * 16 + o)
        norm += amp
        amp *= 0.5
    return total / norm


def _ramp(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0)


def skin_region(
    y0: int, x0: int, h: int, w: int, slide_shape: Sequence[int], seed: int = 0, scale: float = 1.0
) -> dict[str, np.ndarray]:
    """Clean tissue maps of one region of a procedural skin slide.

    Args:
        y0: first row.
        x0: first column.
        h: rows.
        w: columns.
        slide_shape: ``(rows, columns)`` of the whole slide (the tissue outline scales with it).
        seed: the slide's seed.
        scale: size of cellular structures relative to the confocal sampling (0.75 um/px = 1; H&E at 0.47 um/px
            uses 0.75 / 0.47).

    Returns:
        float32 ``(h, w)`` maps in [0, 1]: ``"tissue"`` (soft mask), ``"nuclei"``, ``"stroma"`` (collagen),
        ``"epidermis"``.
    """
    rows, cols = int(slide_shape[0]), int(slide_shape[1])
    big = max(rows, cols)
    yy = (np.arange(y0, y0 + h, dtype=np.float32)[:, None] + 0.5) / rows - 0.5
    xx = (np.arange(x0, x0 + w, dtype=np.float32)[None, :] + 0.5) / cols - 0.5
    wobble = _fractal(y0, x0, h, w, (big / 5, big / 5), seed, 1, octaves=2) - 0.5
    inside = 1.0 - np.sqrt((yy / 0.36) ** 2 + (xx / 0.40) ** 2) + 0.5 * wobble  # > 0 inside the excision
    tissue = _ramp(inside, 0.0, 0.01 + 8.0 / big)
    # the epidermis: a band along the upper edge of the excision, 60-120 um thick
    band_px = 110.0 * scale * (0.8 + 0.4 * _value_noise(y0, x0, h, w, (400 * scale, 400 * scale), seed, 2))
    depth_px = inside * big / 2.2
    epidermis = tissue * _ramp(band_px - depth_px, 0.0, 10.0 * scale) * _ramp(0.25 - yy, 0.0, 0.25)  # fades out below
    # nuclei: ~8 um round blobs (cellular noise), dense in the epidermis, sparse in the dermis
    density = _value_noise(y0, x0, h, w, (90 * scale, 90 * scale), seed, 4)
    presence = 0.12 + 0.55 * epidermis + 0.15 * density
    dist, radius = _nearest_nucleus(y0, x0, h, w, 9.0 * scale, presence, seed)
    nuclei = tissue * _ramp(radius * 4.5 * scale - dist, -1.0, 1.0 + scale)
    # collagen: wavy bundles, elongated along a slowly turning direction, dark gaps between them
    fib_a = _fractal(y0, x0, h, w, (6 * scale, 40 * scale), seed, 5)
    fib_b = _fractal(y0, x0, h, w, (40 * scale, 6 * scale), seed, 6)
    mix = _value_noise(y0, x0, h, w, (300 * scale, 300 * scale), seed, 7)
    fibres = _ramp(mix * fib_a + (1 - mix) * fib_b, 0.35, 0.7)
    stroma = tissue * (1 - epidermis) * (0.25 + 0.75 * fibres) * (1 - 0.7 * nuclei)
    return {"tissue": tissue, "nuclei": nuclei, "stroma": stroma, "epidermis": epidermis}


def _confocal_from_maps(m: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    fcm = 0.03 + 0.08 * m["tissue"] + 0.85 * m["nuclei"]
    rcm = 0.03 + 0.75 * m["stroma"] + 0.35 * m["epidermis"] * (1 - 0.8 * m["nuclei"])
    return np.clip(fcm, 0, 1).astype(np.float32), np.clip(rcm, 0, 1).astype(np.float32)


def _speckle(rcm: np.ndarray, rng: np.random.Generator, looks: float) -> np.ndarray:
    return np.clip(rcm * rng.gamma(looks, 1.0 / looks, size=rcm.shape), 0, 1).astype(np.float32)


def skin_confocal_pair(
    shape: Sequence[int] = (512, 512), seed: int = 0, looks: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A whole small confocal slide: FCM, speckled RCM and its clean version.

    Args:
        shape: ``(rows, columns)``, each >= 32.
        seed: non-negative seed.
        looks: speckle looks of the RCM (gamma, variance ``1/looks``; 1 = fully developed single-look speckle).

    Returns:
        ``(fcm, rcm_noisy, rcm_clean)``, float32 ``(rows, columns)`` in [0, 1].
    """
    rows, cols = (int(s) for s in shape)
    if min(rows, cols) < 32:
        raise ValueError(f"skin_confocal_pair needs rows and columns >= 32, got {tuple(shape)}")
    fcm, rcm = _confocal_from_maps(skin_region(0, 0, rows, cols, (rows, cols), seed))
    return fcm, _speckle(rcm, rng_for(seed, 9, 0), looks), rcm


def _he_from_maps(m: dict[str, np.ndarray], grain: np.ndarray) -> np.ndarray:
    od_h, od_e = (np.asarray(HE_OD[k], np.float32) for k in ("hematoxylin", "eosin"))
    c_h = 1.6 * m["nuclei"] + 0.25 * m["epidermis"] + 0.05 * m["tissue"]
    c_e = 0.9 * m["stroma"] * (0.8 + 0.4 * grain) + 0.45 * m["epidermis"] + 0.1 * m["tissue"]
    od = c_h[..., None] * od_h + c_e[..., None] * od_e + 0.02
    return np.clip(np.exp(-od), 0, 1).astype(np.float32)


def he_patch(shape: Sequence[int] = (256, 256), seed: int = 0, slide_shape: Sequence[int] | None = None) -> np.ndarray:
    """An H&E-like RGB patch (Beer-Lambert mix of hematoxylin and eosin, Ruifrok's optical densities).

    Args:
        shape: ``(rows, columns)``, each >= 32.
        seed: non-negative seed.
        slide_shape: the virtual slide it is cut from (default: 4x the patch, so the patch is mostly tissue).

    Returns:
        float32 ``(rows, columns, 3)`` RGB in [0, 1].
    """
    rows, cols = (int(s) for s in shape)
    if min(rows, cols) < 32:
        raise ValueError(f"he_patch needs rows and columns >= 32, got {tuple(shape)}")
    slide = tuple(slide_shape) if slide_shape is not None else (4 * rows, 4 * cols)
    rng = rng_for(seed, 9, 1)
    y0 = int(rng.integers(int(slide[0] * 0.3), max(int(slide[0] * 0.3) + 1, int(slide[0] * 0.7) - rows)))
    x0 = int(rng.integers(int(slide[1] * 0.25), max(int(slide[1] * 0.25) + 1, int(slide[1] * 0.75) - cols)))
    m = skin_region(y0, x0, rows, cols, slide, seed)
    return _he_from_maps(m, _value_noise(y0, x0, rows, cols, (3.0, 3.0), seed, 11))


def histology_gray(shape: Sequence[int] = (256, 256), seed: int = 0) -> np.ndarray:
    """Grayscale, inverted H&E-like histology (tissue bright, as in RCM): the seed's despeckling training images.

    Args:
        shape: ``(rows, columns)``.
        seed: non-negative seed.

    Returns:
        float32 ``(rows, columns)`` in [0, 1].
    """
    rgb = he_patch(shape, seed)
    gray = rgb @ np.asarray([0.2125, 0.7154, 0.0721], np.float32)  # skimage.color.rgb2gray weights
    return (1.0 - gray).astype(np.float32)


def _slide_bands(
    shape: tuple[int, int], seed: int, tile: int, looks: float, which: str, scale: float = 1.0
) -> Iterator[np.ndarray]:
    rows, cols = shape
    for y in range(0, rows, tile):
        h = min(tile, rows - y)
        m = skin_region(y, 0, h, cols, shape, seed, scale)
        if which == "he":
            rgb = _he_from_maps(m, _value_noise(y, 0, h, cols, (3.0, 3.0), seed, 11))
            yield np.round(rgb * 255).astype(np.uint8)
            continue
        fcm, rcm = _confocal_from_maps(m)
        if which == "rcm":
            rcm = _speckle(rcm, rng_for(seed, 9, 2, y // tile), looks)
        yield np.round((fcm if which == "fcm" else rcm) * 65535).astype(np.uint16)


def write_skin_slide_pair(
    folder: str | os.PathLike,
    shape: Sequence[int],
    seed: int = 0,
    tile: int = 256,
    looks: float = 1.0,
    name: str = "slide",
) -> tuple[Path, Path]:
    """Stream a procedural confocal slide pair to ``<name>_fcm.ome.tif`` and ``<name>_rcm.ome.tif`` (16-bit, tiled,
    pyramidal, 0.75 um/px), one tile row at a time: a 20,000 x 20,000 slide never sits in memory.

    Args:
        folder: output folder.
        shape: ``(rows, columns)``.
        seed: non-negative seed.
        tile: tile size (multiple of 16).
        looks: RCM speckle looks.
        name: file stem.

    Returns:
        ``(fcm_path, rcm_path)``.
    """
    shape = (int(shape[0]), int(shape[1]))
    folder = Path(folder)
    out = []
    for which in ("fcm", "rcm"):
        path = folder / f"{name}_{which}.ome.tif"
        write_pyramid_ome_tiff(
            path,
            _slide_bands(shape, seed, tile, looks, which),
            shape,
            samples=1,
            dtype=np.uint16,
            tile=tile,
            pixel_size_um=CONFOCAL_UM_PER_PX,
            name=f"sample confocal {which.upper()}",
            description=f"medtranslate sample confocal {which.upper()} (procedural skin, seed {seed})",
        )
        out.append(path)
    return out[0], out[1]


def write_he_slide(
    folder: str | os.PathLike, shape: Sequence[int], seed: int = 0, tile: int = 256, name: str = "he"
) -> Path:
    """Stream a procedural H&E slide (8-bit RGB, 0.47 um/px, tiled pyramidal OME-TIFF) to ``<name>.ome.tif``.

    Args:
        folder: output folder.
        shape: ``(rows, columns)``.
        seed: non-negative seed.
        tile: tile size.
        name: file stem.

    Returns:
        The path.
    """
    shape = (int(shape[0]), int(shape[1]))
    path = Path(folder) / f"{name}.ome.tif"
    scale = CONFOCAL_UM_PER_PX / HE_UM_PER_PX
    return write_pyramid_ome_tiff(
        path,
        _slide_bands(shape, seed, tile, 1.0, "he", scale),
        shape,
        samples=3,
        dtype=np.uint8,
        tile=tile,
        pixel_size_um=HE_UM_PER_PX,
        name="sample H&E",
        description=f"medtranslate sample H&E (procedural skin, seed {seed})",
    )


def write_histology_dataset(
    folder: str | os.PathLike, n: int = 16, shape: Sequence[int] = (256, 256), seed: int = 0, validation: float = 0.2
) -> Path:
    """Write clean despeckling training images (:func:`histology_gray`, 8-bit PNG) and a seeded datalist.

    Args:
        folder: output folder (``images/`` and ``datalist.json`` go there).
        n: number of images.
        shape: image size.
        seed: seed of the images and of the split.
        validation: fraction held out in the ``validation`` split.

    Returns:
        The datalist path.
    """
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        gray = histology_gray(shape, seed=seed * 100_003 + i)
        with atomic_path(folder / "images" / f"histology_{i:04d}.png") as tmp:
            Image.fromarray(np.round(gray * 255).astype(np.uint8)).save(tmp, format="PNG")
    datalist = make_datalist(
        folder / "images",
        split={"training": 1.0 - validation, "validation": validation},
        seed=seed,
        name="despeckle histology",
        description="clean grayscale inverted H&E-like histology (tissue bright, as in RCM); speckle added in training",
        modality_a="histology (gray, inverted)",
    )
    return write_datalist(datalist, folder / "datalist.json")
