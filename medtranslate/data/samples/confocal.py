"""Confocal-like RGB stacks of a stained retinal flat-mount: DAPI nuclei, IB4 vessels, CD4 T cells (seed 000)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from medtranslate.data.samples._common import (
    VesselTree,
    check_shape,
    grow_vessel_tree,
    render_blobs,
    render_segments,
    rng_for,
    smooth_field,
)

__all__ = ["confocal_stack"]

_Z_STEP = 1.5  # a slice is 1.5 pixels thick: confocal z-steps are coarser than the lateral sampling


def confocal_stack(
    shape: Sequence[int] = (9, 128, 128),
    seed: int = 0,
    channel_first: bool = False,
    return_masks: bool = False,
    tree: VesselTree | None = None,
    flat_mount: bool = True,
) -> np.ndarray | tuple[np.ndarray, dict[str, np.ndarray]]:
    """An RGB confocal stack between the inner limiting membrane and the inner plexiform layer.

    What it models (seed 000's OCT2Confocal staining): **red** IB4-labelled endothelium, a vessel tree radiating from
    the optic disc whose trunks and first branches run in the superficial plexus and whose finer branches dive to a
    deeper plexus, brighter at the walls than in the lumen; **blue** DAPI nuclei, a dense layer of round ganglion-cell
    nuclei plus elongated endothelial nuclei along the vessels; **green** sparse CD4+ T cells (each with its own
    nucleus), mostly around vessels as in uveitis. Blur by the point-spread function, faint autofluorescence and
    shot noise are added. Structure sizes scale with the image so a stack always shows the same field of view.

    Args:
        shape: (slices, height, width); slices >= 3, height and width >= 32.
        seed: non-negative seed; the same seed gives the same stack.
        channel_first: return ``(3, Z, H, W)`` instead of ``(Z, H, W, 3)``.
        return_masks: also return the boolean masks of what was drawn.
        tree: the vessel tree to draw, on the same lateral grid, instead of growing one: e.g. the eye's tree from
            :func:`oct_volume` for the flat-mount of that eye. It is drawn as a flat-mount shows it, not registered
            to the OCT: rotated by up to 8 degrees, shifted by up to 4 % of the field and scaled by 0.95-1.05 about
            the image centre (seeded).
        flat_mount: with ``tree``, ``False`` draws the tree where it lies instead: a confocal rendering registered
            to the OCT (the target of a supervised bound, benchmarks/oct_supervised_bound.py).

    Returns:
        float32 stack in ``[0, 1]`` with channels R, G, B; with ``return_masks`` also a dict of bool ``(Z, H, W)``
        masks ``"vessels"``, ``"nuclei"`` and ``"cells"``.
    """
    nz, h, w = check_shape(shape, 3, 3, "confocal_stack")
    if min(h, w) < 32:
        raise ValueError(f"confocal_stack needs height and width >= 32; got {tuple(shape)}")
    rng = rng_for(seed, 1, 0)
    noise_rng = rng_for(seed, 1, 1)
    s = max(h, w) / 128.0
    spacing = (_Z_STEP, 1.0, 1.0)

    # vessels: radial tree; superficial plexus for trunks and first branches, deeper plexus for finer ones
    if tree is None:
        n_trunks = int(rng.integers(4, 7))
        start = rng.uniform(0, 2 * math.pi)
        root = ((h - 1) / 2 + rng.normal(0, 0.05 * h), (w - 1) / 2 + rng.normal(0, 0.05 * w))
        trunks = [
            (start + k * 2 * math.pi / n_trunks + rng.normal(0, 0.2), 2.6 * s, 0.0, k % 2) for k in range(n_trunks)
        ]
        tree = grow_vessel_tree(
            rng,
            root,
            trunks,
            lambda a, b: -2 <= a < h + 2 and -2 <= b < w + 2,
            step=2.5 * s,
            min_radius=max(0.7, 0.7 * s),
            branch_every=6.0,
            jitter=0.15,
        )
    elif flat_mount:
        tree = _flat_mount(tree, (h, w), rng_for(seed, 1, 2))
    z_shallow, z_deep = 0.3 * (nz - 1), 0.75 * (nz - 1)
    plexus = np.where(tree.generation >= 2, z_deep, z_shallow)
    parent = np.where(tree.generation - 1 >= 2, z_deep, z_shallow)
    z_end = plexus + rng.uniform(-0.3, 0.3, len(plexus))
    z_start = np.where(tree.first, parent, z_end)  # a new branch leaves its parent's plexus, then dives
    starts = np.column_stack([z_start, tree.starts])
    ends = np.column_stack([z_end, tree.ends])
    cover, _ = render_segments((nz, h, w), starts, ends, tree.radii, spacing=spacing)
    lumen, _ = render_segments((nz, h, w), starts, ends, tree.radii * 0.5 - 0.3, spacing=spacing)
    red = 0.9 * cover - 0.45 * lumen  # IB4 labels the endothelium: bright walls, dimmer lumen

    # nuclei: round ganglion-cell nuclei everywhere, elongated endothelial nuclei along the vessels
    n_round = int(0.15 * nz * h * w / (30.0 * s * s))
    centres = np.column_stack([rng.uniform(0, nz - 1, n_round), rng.uniform(0, h, n_round), rng.uniform(0, w, n_round)])
    radii = np.column_stack([rng.uniform(1.2, 1.8, n_round), *(rng.uniform(1.8, 2.6, (2, n_round)) * s)])
    angles = rng.uniform(0, math.pi, n_round)
    n_endo = min(len(starts), int(0.25 * n_round))
    pick = rng.choice(len(starts), n_endo, replace=False) if n_endo else np.zeros(0, int)
    t = rng.uniform(0, 1, n_endo)[:, None]
    endo_c = starts[pick] * (1 - t) + ends[pick] * t
    direction = ends[pick] - starts[pick]
    endo_a = np.arctan2(direction[:, 2], direction[:, 1])
    endo_r = np.column_stack([np.full(n_endo, 1.0), np.full(n_endo, 3.5 * s), np.full(n_endo, 1.2 * s)])
    nuclei = render_blobs(
        (nz, h, w),
        np.concatenate([centres, endo_c]),
        np.concatenate([radii, endo_r]),
        np.concatenate([angles, endo_a]),
        spacing=spacing,
        values=rng.uniform(0.6, 1.0, n_round + n_endo),
    )

    # T cells: sparse, 70 % beside a vessel; each carries a nucleus
    n_cells = max(2, int(0.02 * n_round))
    near = rng.random(n_cells) < 0.7
    seg = rng.integers(0, len(starts), n_cells) if len(starts) else np.zeros(n_cells, int)
    cell_c = np.column_stack([rng.uniform(0, nz - 1, n_cells), rng.uniform(0, h, n_cells), rng.uniform(0, w, n_cells)])
    if len(starts):
        beside = ends[seg] + np.column_stack([np.zeros(n_cells), rng.normal(0, 3 * s, (2, n_cells)).T])
        cell_c = np.where(near[:, None], beside, cell_c)
    cell_r = np.column_stack([np.full(n_cells, 1.6), rng.uniform(2.6, 3.4, (2, n_cells)).T * s])
    cells = render_blobs((nz, h, w), cell_c, cell_r, spacing=spacing, values=rng.uniform(0.75, 1.0, n_cells))
    cell_nuclei = render_blobs((nz, h, w), cell_c, cell_r * 0.6, spacing=spacing, values=np.full(n_cells, 0.8))
    nuclei = np.maximum(nuclei, cell_nuclei)

    masks = {"vessels": cover >= 0.5, "nuclei": nuclei >= 0.3, "cells": cells >= 0.3}
    rgb = np.stack([red, cells, 0.95 * nuclei], axis=-1)
    rgb = ndimage.gaussian_filter(rgb, (0.5, 0.7 * s, 0.7 * s, 0))  # point-spread function
    for c, level in enumerate((0.03, 0.015, 0.04)):  # autofluorescence differs per channel
        rgb[..., c] += smooth_field(noise_rng, (nz, h, w), (1.0, 8 * s, 8 * s), 0.0, level)
    rgb = rgb + np.sqrt(np.clip(rgb, 0, None) * 0.004) * noise_rng.standard_normal(rgb.shape)  # shot noise
    rgb = np.clip(rgb + noise_rng.normal(0.0, 0.006, rgb.shape), 0.0, 1.0).astype(np.float32)
    if channel_first:
        rgb = np.ascontiguousarray(np.moveaxis(rgb, -1, 0))
    return (rgb, masks) if return_masks else rgb


def _flat_mount(tree: VesselTree, size: tuple[int, int], rng: np.random.Generator) -> VesselTree:
    """The tree as a flat-mount of the same eye places it: a seeded small rotation, shift and scale about the centre
    (the dissected retina is laid flat by hand, so it is never registered to the in-vivo scan)."""
    h, w = size
    angle = math.radians(rng.uniform(-8.0, 8.0))
    scale = rng.uniform(0.95, 1.05)
    shift = rng.uniform(-0.04, 0.04, 2) * np.array([h, w])
    centre = np.array([(h - 1) / 2, (w - 1) / 2])
    rot = scale * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])

    def place(points: np.ndarray) -> np.ndarray:
        return (np.asarray(points, np.float64) - centre) @ rot.T + centre + shift

    return VesselTree(
        starts=place(tree.starts),
        ends=place(tree.ends),
        radii=np.asarray(tree.radii) * scale,
        generation=tree.generation,
        vessel_type=tree.vessel_type,
        first=tree.first,
    )
