"""Shared pieces of the sample generators: seeded streams, smooth fields, speckle, tubes, blobs, vessel trees."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = [
    "rng_for",
    "check_shape",
    "smooth_field",
    "speckle",
    "render_segments",
    "render_blobs",
    "VesselTree",
    "grow_vessel_tree",
]


def rng_for(seed: int, *stream: int) -> np.random.Generator:
    """A generator for one independent stream of a seed (anatomy, noise, ...), so that streams never interfere.

    Args:
        seed: the user's seed, a non-negative integer.
        stream: integers naming the stream.

    Returns:
        ``numpy.random.default_rng([seed, *stream])``.

    Raises:
        ValueError: for a negative or non-integer seed.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, not {seed!r}")
    return np.random.default_rng([int(seed), *stream])


def check_shape(shape: Sequence[int], ndim: int, minimum: int, what: str) -> tuple[int, ...]:
    """Validate a spatial shape.

    Args:
        shape: the requested shape.
        ndim: the number of dimensions it must have.
        minimum: the smallest size allowed on every axis.
        what: the generator's name, for the message.

    Returns:
        The shape as a tuple of ints.

    Raises:
        ValueError: when the shape has the wrong length or too small a size.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) != ndim or min(shape) < minimum:
        raise ValueError(f"{what} needs a shape of {ndim} sizes, each >= {minimum}; got {shape}")
    return shape


def smooth_field(
    rng: np.random.Generator, shape: Sequence[int], sigma: float | Sequence[float], lo: float = 0.0, hi: float = 1.0
) -> np.ndarray:
    """Smooth random field rescaled to ``[lo, hi]``: white noise blurred by a Gaussian of ``sigma`` voxels.

    Args:
        rng: the random stream.
        shape: output shape.
        sigma: blur in voxels (per axis or one for all).
        lo: value of the field's minimum.
        hi: value of the field's maximum.

    Returns:
        float32 array of ``shape``.
    """
    field = ndimage.gaussian_filter(rng.standard_normal(tuple(shape)), sigma, mode="wrap")
    span = float(field.max() - field.min()) or 1.0
    return (lo + (hi - lo) * (field - field.min()) / span).astype(np.float32)


def speckle(
    x: np.ndarray, rng: np.random.Generator, kind: str = "rayleigh", looks: float = 4.0, grain: float = 0.0
) -> np.ndarray:
    """Multiplicative speckle ``Y = X (1 + F)`` with ``E[1 + F] = 1`` (seed 001's model).

    Args:
        x: the noise-free reflectivity (non-negative).
        rng: the random stream.
        kind: ``"rayleigh"`` (amplitude of a complex Gaussian field, fully developed speckle), ``"gamma"``
            (intensity speckle averaged over ``looks``), or ``"none"``.
        looks: shape parameter of the gamma law (larger: weaker speckle).
        grain: speckle grain size in voxels (Gaussian correlation of the underlying field); 0 for independent voxels.

    Returns:
        float32 array like ``x``.

    Raises:
        ValueError: for an unknown ``kind``.
    """
    if kind == "none":
        return x.astype(np.float32)
    if kind == "rayleigh":
        re, im = rng.standard_normal(x.shape), rng.standard_normal(x.shape)
        if grain > 0:
            re, im = ndimage.gaussian_filter(re, grain), ndimage.gaussian_filter(im, grain)
        amp = np.hypot(re, im)
        factor = amp / amp.mean()
    elif kind == "gamma":
        factor = rng.gamma(looks, 1.0 / looks, size=x.shape)
        if grain > 0:
            factor = ndimage.gaussian_filter(factor, grain)
            factor /= factor.mean()
    else:
        raise ValueError(f"unknown speckle kind {kind!r}: use 'rayleigh', 'gamma' or 'none'")
    return (x * factor).astype(np.float32)


def render_segments(
    shape: Sequence[int],
    starts: np.ndarray,
    ends: np.ndarray,
    radii: np.ndarray,
    spacing: Sequence[float] | None = None,
    values: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw capsules (tubes with round ends) in 2D or 3D, anti-aliased, each only inside its bounding box.

    Args:
        shape: the image shape (2 or 3 axes).
        starts: (N, ndim) start points in voxel coordinates.
        ends: (N, ndim) end points in voxel coordinates.
        radii: (N,) radii in physical units (voxel units scaled by ``spacing``).
        spacing: size of a voxel along each axis (default 1); radii and distances are measured in these units.
        values: (N,) value carried by each tube (the output keeps the value of the tube that covers a voxel most).

    Returns:
        ``(coverage, value)``: coverage in ``[0, 1]`` (1 inside, a one-unit ramp at the wall; a voxel is inside when
        coverage >= 0.5) and the per-voxel value of the covering tube (0 where none).
    """
    shape = tuple(shape)
    nd = len(shape)
    sp = np.ones(nd) if spacing is None else np.asarray(spacing, dtype=float)
    cover = np.zeros(shape, np.float32)
    value = np.zeros(shape, np.float32)
    vals = np.ones(len(radii), np.float32) if values is None else np.asarray(values, np.float32)
    for p, q, r, v in zip(np.asarray(starts, float), np.asarray(ends, float), np.asarray(radii, float), vals):
        reach = (r + 1.0) / sp
        lo = np.maximum(np.floor(np.minimum(p, q) - reach), 0).astype(int)
        hi = np.minimum(np.ceil(np.maximum(p, q) + reach) + 1, shape).astype(int)
        if np.any(hi <= lo):
            continue
        grids = np.ogrid[tuple(slice(a, b) for a, b in zip(lo, hi))]
        rel = [(g - p[k]) * sp[k] for k, g in enumerate(grids)]
        seg = (q - p) * sp
        ss = float(seg @ seg)
        t = sum(rel[k] * seg[k] for k in range(nd)) / ss if ss > 0 else 0.0
        t = np.clip(t, 0.0, 1.0)
        dist = np.sqrt(sum((rel[k] - t * seg[k]) ** 2 for k in range(nd)))
        c = np.clip(r + 0.5 - dist, 0.0, 1.0).astype(np.float32)
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        better = c > cover[box]
        cover[box] = np.where(better, c, cover[box])
        value[box] = np.where(better, v, value[box])
    return cover, value


def render_blobs(
    shape: Sequence[int],
    centres: np.ndarray,
    radii: np.ndarray,
    angles: np.ndarray | None = None,
    spacing: Sequence[float] | None = None,
    values: np.ndarray | None = None,
) -> np.ndarray:
    """Draw soft ellipsoids (cells, nuclei) in 2D or 3D; the last two axes may be rotated by ``angles``.

    Args:
        shape: the image shape.
        centres: (N, ndim) centres in voxel coordinates.
        radii: (N, ndim) semi-axes in physical units.
        angles: (N,) rotation in the plane of the last two axes (radians); default none.
        spacing: size of a voxel along each axis (default 1).
        values: (N,) brightness of each blob (default 1).

    Returns:
        float32 image: ``value`` in the core, falling smoothly to 0 at the surface (maximum over blobs).
    """
    shape = tuple(shape)
    nd = len(shape)
    sp = np.ones(nd) if spacing is None else np.asarray(spacing, dtype=float)
    out = np.zeros(shape, np.float32)
    angles = np.zeros(len(centres)) if angles is None else angles
    values = np.ones(len(centres)) if values is None else values
    for c, r, a, v in zip(np.asarray(centres, float), np.asarray(radii, float), angles, values):
        reach = r.max() / sp + 1
        lo = np.maximum(np.floor(c - reach), 0).astype(int)
        hi = np.minimum(np.ceil(c + reach) + 1, shape).astype(int)
        if np.any(hi <= lo):
            continue
        grids = np.ogrid[tuple(slice(s, e) for s, e in zip(lo, hi))]
        rel = [(g - c[k]) * sp[k] for k, g in enumerate(grids)]
        u = math.cos(a) * rel[-2] + math.sin(a) * rel[-1]
        w = -math.sin(a) * rel[-2] + math.cos(a) * rel[-1]
        q = (u / r[-2]) ** 2 + (w / r[-1]) ** 2
        for k in range(nd - 2):
            q = q + (rel[k] / r[k]) ** 2
        blob = (v * np.clip(1.6 * (1.0 - q), 0.0, 1.0)).astype(np.float32)
        box = tuple(slice(s, e) for s, e in zip(lo, hi))
        out[box] = np.maximum(out[box], blob)
    return out


@dataclass
class VesselTree:
    """A branching vessel tree as line segments.

    Args:
        starts: (N, 2) segment start points (row, column) in pixels.
        ends: (N, 2) segment end points.
        radii: (N,) radius of each segment in pixels.
        generation: (N,) branching generation (0 for the trunks).
        vessel_type: (N,) 0 artery, 1 vein (inherited from the trunk).
        first: (N,) True for the first segment of each branch (where it leaves its parent).
    """

    starts: np.ndarray
    ends: np.ndarray
    radii: np.ndarray
    generation: np.ndarray
    vessel_type: np.ndarray
    first: np.ndarray


def grow_vessel_tree(
    rng: np.random.Generator,
    root: Sequence[float],
    trunks: Sequence[tuple[float, float, float, int]],
    inside: Callable[[float, float], bool],
    step: float,
    min_radius: float,
    branch_every: float = 12.0,
    jitter: float = 0.12,
    max_segments: int = 4000,
) -> VesselTree:
    """Grow vessels from a root by persistent random walks that taper and branch.

    Each trunk walks ``step`` pixels at a time; its heading turns by ``curl`` plus Gaussian ``jitter`` per step; after
    about ``branch_every`` steps it splits off a thinner child at 25-60 degrees. A walk stops when it leaves ``inside``,
    gets thinner than ``min_radius``, or is too long.

    Args:
        rng: the random stream.
        root: (row, column) where every trunk starts (the optic disc).
        trunks: ``(heading, radius, curl, vessel_type)`` per trunk; heading in radians (0 = +column, pi/2 = +row),
            curl in radians per step (bends the trunk, e.g. the arcades around the macula).
        inside: ``inside(row, col)`` is ``False`` where vessels must stop (outside the field of view).
        step: walk step in pixels.
        min_radius: radius below which a branch stops.
        branch_every: mean number of steps between branchings.
        jitter: standard deviation of the heading change per step (radians).
        max_segments: safety cap on the number of segments.

    Returns:
        The :class:`VesselTree`.
    """
    starts, ends, radii, gens, types, first = [], [], [], [], [], []
    stack = [(float(root[0]), float(root[1]), h, r, c, 0, t) for h, r, c, t in trunks]
    while stack and len(starts) < max_segments:
        y, x, heading, radius, curl, gen, vtype = stack.pop()
        n_steps = 0
        next_branch = rng.exponential(branch_every) + 3
        while radius >= min_radius and n_steps < 400 and len(starts) < max_segments:
            heading += curl + rng.normal(0.0, jitter)
            ny, nx = y + step * math.sin(heading), x + step * math.cos(heading)
            if not inside(ny, nx):
                break
            starts.append((y, x))
            ends.append((ny, nx))
            radii.append(radius)
            gens.append(gen)
            types.append(vtype)
            first.append(n_steps == 0)
            y, x = ny, nx
            n_steps += 1
            radius *= 0.992
            if n_steps >= next_branch:
                side = rng.choice((-1.0, 1.0))
                child_r = radius * rng.uniform(0.5, 0.75)
                child_h = heading + side * rng.uniform(math.radians(25), math.radians(60))
                stack.append((y, x, child_h, child_r, -0.3 * side * abs(curl) + 0.0, gen + 1, vtype))
                radius *= 0.9
                heading -= side * rng.uniform(0.0, 0.15)
                next_branch = n_steps + rng.exponential(branch_every) + 3
    as_arr = np.asarray
    return VesselTree(
        starts=as_arr(starts, float).reshape(-1, 2),
        ends=as_arr(ends, float).reshape(-1, 2),
        radii=as_arr(radii, float),
        generation=as_arr(gens, int),
        vessel_type=as_arr(types, int),
        first=as_arr(first, bool),
    )
