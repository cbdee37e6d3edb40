"""Tissue patches of whole slides for the staining CycleGAN, written as PNGs with a seeded 80/20 datalist (seed 001).

Confocal slide pairs (FCM + RCM) are normalised to [0, 1], masked by Otsu thresholding a thumbnail, and cut into
non-overlapping ``patch`` x ``patch`` tissue patches; each patch's RCM is despeckled (when a despeckling function is
given) and the pair is Gareau-stained into the RGB image of domain A. H&E slides go through the same mask and
patching, with the patch cut at the size that covers the same physical field at the confocal pixel size and resized
to ``patch`` (the seed: 1630 px at 0.47 um/px -> 1024 px at 0.75 um/px). The datalist splits each domain with a
seed (default 80 % training, 20 % validation), the layout of ``data_specs/datalist.schema.json``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from medtranslate.data.datalist import make_datalist, write_datalist
from medtranslate.errors import InputError, MedTranslateError
from medtranslate.io.slide import SlideReader, check_mode_pair, unit_scale
from medtranslate.transforms.stain import GareauStain
from medtranslate.transforms.tissue import he_darkness, otsu_tissue_mask, tissue_fraction
from medtranslate.utils.atomic import atomic_path

__all__ = ["confocal_patches", "he_patches", "write_patch_datalist", "CONFOCAL_UM", "PatchProblem"]

logger = logging.getLogger(__name__)

#: the confocal pixel size all patches are brought to (VivaScope 2500, seed 001).
CONFOCAL_UM = 0.75
PatchProblem = tuple[str, str]  # (file, one-line problem)


def _grid(mask: np.ndarray, shape: tuple[int, int], size: int, min_tissue: float) -> list[tuple[int, int]]:
    rows, cols = shape
    return [
        (y, x)
        for y in range(0, rows - size + 1, size)
        for x in range(0, cols - size + 1, size)
        if tissue_fraction(mask, shape, y, x, (size, size)) >= min_tissue
    ]


def _save_png(rgb: np.ndarray, path: Path) -> Path:
    with atomic_path(path) as tmp:
        Image.fromarray(rgb).save(tmp, format="PNG")
    return path


def confocal_patches(
    fcm_path: str | os.PathLike,
    rcm_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    patch: int = 1024,
    min_tissue: float = 0.5,
    despeckle: Callable[[np.ndarray], np.ndarray] | None = None,
    stain: GareauStain | None = None,
    thumbnail_size: int = 1024,
) -> list[Path]:
    """Gareau-stained tissue patches of one FCM/RCM slide pair.

    Args:
        fcm_path: the fluorescence slide.
        rcm_path: the reflectance slide.
        out_dir: where ``<fcm stem>_y<row>_x<col>.png`` go.
        patch: patch size in pixels (seed: 1024).
        min_tissue: smallest tissue fraction of a kept patch.
        despeckle: ``f(rcm (h, w) in [0, 1]) -> (h, w)``, e.g. a trained despeckling network; ``None`` keeps the
            raw RCM.
        stain: the Gareau stain (default constants).
        thumbnail_size: long side of the Otsu thumbnail.

    Returns:
        The written patch files.

    Raises:
        InputError: for a bad pair (see :func:`~medtranslate.io.slide.check_mode_pair`) or a slide without tissue.
    """
    stain = stain or GareauStain()
    out_dir = Path(out_dir)
    written = []
    with SlideReader(fcm_path) as fcm, SlideReader(rcm_path) as rcm:
        check_mode_pair(fcm, rcm, patch)
        sf, sr = unit_scale(fcm), unit_scale(rcm)
        tf, _ = fcm.thumbnail(thumbnail_size)
        tr, _ = rcm.thumbnail(thumbnail_size)
        mask = otsu_tissue_mask(tf.astype(np.float32) / sf + tr.astype(np.float32) / sr)
        cells = _grid(mask, fcm.shape, patch, min_tissue)
        if not cells:
            raise InputError(fcm.path, f"has no {patch}x{patch} patch with {min_tissue:.0%} tissue under the Otsu mask")
        stem = Path(fcm_path).name.split(".")[0]
        for y, x in cells:
            f = fcm.read_region(y, x, patch, patch).astype(np.float32) / sf
            r = rcm.read_region(y, x, patch, patch).astype(np.float32) / sr
            if despeckle is not None:
                r = np.clip(despeckle(r), 0, 1)
            rgb = np.asarray(stain(np.stack([f, r])))
            png = np.round(np.moveaxis(rgb, 0, -1) * 255).astype(np.uint8)
            written.append(_save_png(png, out_dir / f"{stem}_y{y:06d}_x{x:06d}.png"))
    return written


def he_patches(
    he_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    patch: int = 1024,
    target_um: float = CONFOCAL_UM,
    pixel_um: float | None = None,
    min_tissue: float = 0.5,
    thumbnail_size: int = 1024,
) -> list[Path]:
    """Tissue patches of one RGB H&E slide, resampled to the confocal pixel size.

    Args:
        he_path: the H&E slide.
        out_dir: where the PNGs go.
        patch: output patch size.
        target_um: the pixel size of the output patches (the confocal one).
        pixel_um: the slide's pixel size when its file does not say (the seed: 0.47).
        min_tissue: smallest tissue fraction of a kept patch.
        thumbnail_size: long side of the Otsu thumbnail.

    Returns:
        The written patch files.

    Raises:
        InputError: for a non-RGB slide, an unknown pixel size, a slide smaller than one patch, or no tissue.
    """
    out_dir = Path(out_dir)
    written = []
    with SlideReader(he_path) as he:
        if he.samples not in (3, 4):
            raise InputError(he.path, f"has {he.samples} sample(s) per pixel; an H&E slide is RGB")
        um = he.pixel_size_um or pixel_um
        if not um:
            raise InputError(he.path, "does not state its pixel size; give it (e.g. 0.47 um for the seed's scanner)")
        cut = int(round(patch * target_um / um))
        if min(he.shape) < cut:
            raise InputError(he.path, f"is smaller ({he.shape[1]}x{he.shape[0]} px) than one patch ({cut} px)")
        thumb, _ = he.thumbnail(thumbnail_size)
        mask = otsu_tissue_mask(he_darkness(thumb[..., :3]))
        cells = _grid(mask, he.shape, cut, min_tissue)
        if not cells:
            raise InputError(he.path, f"has no {cut}x{cut} patch with {min_tissue:.0%} tissue under the Otsu mask")
        stem = Path(he_path).name.split(".")[0]
        for y, x in cells:
            rgb = he.read_region(y, x, cut, cut)[..., :3]
            if rgb.dtype != np.uint8:
                rgb = np.round(rgb.astype(np.float32) / unit_scale(he) * 255).astype(np.uint8)
            img = Image.fromarray(rgb).resize((patch, patch), Image.Resampling.LANCZOS) if cut != patch else rgb
            written.append(_save_png(np.asarray(img), out_dir / f"{stem}_y{y:06d}_x{x:06d}.png"))
    return written


def write_patch_datalist(
    confocal_pairs: Sequence[tuple[str | os.PathLike, str | os.PathLike]],
    he_slides: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    patch: int = 1024,
    seed: int = 0,
    training: float = 0.8,
    min_tissue: float = 0.5,
    despeckle: Callable[[np.ndarray], np.ndarray] | None = None,
    stain: GareauStain | None = None,
    he_pixel_um: float | None = None,
) -> tuple[Path, list[PatchProblem]]:
    """Patch every slide and write ``datalist.json`` (domain A: Gareau-stained confocal, domain B: H&E).

    A bad slide is logged and listed in the returned problems; the others go on.

    Args:
        confocal_pairs: ``(fcm, rcm)`` slide pairs.
        he_slides: H&E slides.
        out_dir: gets ``confocal/``, ``he/`` and ``datalist.json``.
        patch: patch size.
        seed: seed of the split.
        training: fraction of each domain in ``training`` (the rest is ``validation``).
        min_tissue: smallest tissue fraction of a kept patch.
        despeckle: RCM despeckling function (see :func:`confocal_patches`).
        stain: the Gareau stain.
        he_pixel_um: pixel size of H&E slides whose files do not state it.

    Returns:
        ``(datalist path, problems)``.

    Raises:
        InputError: when a domain ends up without any patch (an empty datalist is an error, not a silent run).
    """
    out_dir = Path(out_dir)
    problems: list[PatchProblem] = []
    n_a = n_b = 0

    def attempt(path: Any, fn: Callable[[], list[Path]]) -> int:
        try:
            return len(fn())
        except MedTranslateError as e:
            logger.error(str(e))
            problems.append((str(path), str(e)))
            return 0

    for fcm, rcm in confocal_pairs:
        n_a += attempt(
            fcm, lambda f=fcm, r=rcm: confocal_patches(f, r, out_dir / "confocal", patch, min_tissue, despeckle, stain)
        )
    for he in he_slides:
        n_b += attempt(
            he, lambda h=he: he_patches(h, out_dir / "he", patch, pixel_um=he_pixel_um, min_tissue=min_tissue)
        )
    for n, what in ((n_a, "confocal"), (n_b, "H&E")):
        if n == 0:
            raise InputError(out_dir, f"no {what} tissue patch was extracted, so the datalist would be empty")
    datalist = make_datalist(
        out_dir / "confocal",
        out_dir / "he",
        split={"training": training, "validation": 1.0 - training},
        seed=seed,
        name="confocal2he patches",
        description=f"{patch}x{patch} tissue patches: Gareau-stained confocal (A) and H&E at {CONFOCAL_UM} um/px (B)",
        modality_a="confocal (Gareau stain)",
        modality_b="H&E",
    )
    return write_datalist(datalist, out_dir / "datalist.json"), problems
