"""In-plane similarity registration of two en-face views (a flat-mount onto the in-vivo scan of the same eye).

A dissected retina is laid flat by hand, so its confocal stack is rotated, shifted and scaled against the OCT of the
same eye. :func:`register_enface` finds that similarity transform from the images (a grid search over angle and
scale with the best shift of each from an FFT cross-correlation, then Powell's method on the normalised correlation),
and :func:`warp_in_plane` resamples every slice and channel of the moving stack onto the fixed grid with it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage, optimize

__all__ = ["EnFaceRegistration", "enface_features", "register_enface", "warp_in_plane"]


@dataclass(frozen=True)
class EnFaceRegistration:
    """A similarity transform, mirror included, mapping fixed-grid points onto the moving grid:
    ``q = scale * R(angle) M (p - c_f) + c_m + shift``, with ``p`` and ``q`` as ``(row, col)`` pixel coordinates,
    ``c_f``, ``c_m`` the two grids' centres, and ``M`` the mirror ``diag(1, -1)`` when ``mirrored``.

    Attributes:
        angle_deg: rotation, degrees, in [-180, 180).
        scale: isotropic scale (moving pixels per fixed pixel).
        shift: ``(row, col)`` shift in moving pixels.
        mirrored: the moving view is a mirror image of the fixed one (a flat-mount laid face down, or two file
            layouts whose in-plane axes are swapped).
        correlation_before: normalised correlation of the two feature images before registering (centres aligned).
        correlation_after: the same after registering.
    """

    angle_deg: float
    scale: float
    shift: tuple[float, float]
    mirrored: bool
    correlation_before: float
    correlation_after: float

    def as_dict(self) -> dict:
        """The fields as a JSON-ready dict."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


def enface_features(image: np.ndarray, sigma: float = 1.0, background_sigma: float = 8.0) -> np.ndarray:
    """A 2D view made comparable across modalities: smoothed, its slow background removed, zero mean, unit variance.

    Args:
        image: 2D en-face view.
        sigma: smoothing in pixels (speckle and noise).
        background_sigma: the scale of the background (illumination, vignetting) that is subtracted, in pixels.

    Returns:
        float32 array of the same shape.
    """
    x = np.asarray(image, np.float64)
    x = ndimage.gaussian_filter(x, sigma) - ndimage.gaussian_filter(x, background_sigma)
    return ((x - x.mean()) / (x.std() + 1e-12)).astype(np.float32)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (math.sqrt(float((a * a).sum() * (b * b).sum())) + 1e-12))


def _matrix(angle_deg: float, scale: float, mirrored: bool = False) -> np.ndarray:
    a = math.radians(angle_deg)
    rot = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return rot @ np.diag([1.0, -1.0]) if mirrored else rot


def _warp(
    moving: np.ndarray,
    fixed_size: Sequence[int],
    angle_deg: float,
    scale: float,
    shift: Sequence[float],
    mirrored: bool = False,
    order: int = 1,
) -> np.ndarray:
    """``moving`` (2D) resampled onto the fixed grid; outside points are 0."""
    matrix = _matrix(angle_deg, scale, mirrored)
    c_f = (np.asarray(fixed_size, np.float64) - 1) / 2
    c_m = (np.asarray(moving.shape, np.float64) - 1) / 2
    offset = c_m + np.asarray(shift, np.float64) - matrix @ c_f
    return ndimage.affine_transform(
        np.asarray(moving, np.float32), matrix, offset, output_shape=tuple(fixed_size), order=order, cval=0.0
    )


def _best_shift(f: np.ndarray, w: np.ndarray, max_shift: Sequence[int]) -> tuple[float, np.ndarray]:
    """The integer ``d`` (within ``max_shift``) maximising ``sum f(p) w(p - d)``, by FFT, and the normalised score."""
    h, wd = f.shape
    size = (2 * h, 2 * wd)  # zero padding: no wrap-around
    xc = np.fft.irfft2(np.fft.rfft2(f, size) * np.conj(np.fft.rfft2(w, size)), size)
    rows = np.arange(-max_shift[0], max_shift[0] + 1)
    cols = np.arange(-max_shift[1], max_shift[1] + 1)
    window = xc[np.ix_(rows % size[0], cols % size[1])]
    i, j = np.unravel_index(int(np.argmax(window)), window.shape)
    best_d = np.array([rows[i], cols[j]], np.float64)
    return float(window[i, j] / (np.linalg.norm(f) * np.linalg.norm(w) + 1e-12)), best_d


def register_enface(
    fixed: np.ndarray,
    moving: np.ndarray,
    max_angle_deg: float = 15.0,
    max_scale_change: float = 0.1,
    max_shift: float = 0.15,
    invert_fixed: bool = False,
    scale_prior: float = 1.0,
    any_orientation: bool = True,
    search_size: int = 96,
) -> EnFaceRegistration:
    """Find the similarity transform (mirror allowed) that lays ``moving`` onto ``fixed`` (two 2D views).

    Both are reduced by :func:`enface_features` first, the finer one's filters widened by the ratio of the pixel
    sizes (``scale_prior``) so that both keep the same physical detail. A grid search (on copies at most
    ``search_size`` pixels a side) over angle (1 degree steps), scale (2 % steps) and, with ``any_orientation``, the
    four quarter turns of the view and their mirror images, each with its best shift from an FFT cross-correlation,
    finds the basin; Powell's method on the normalised correlation at full size then refines angle, scale and shift
    to a fraction of a pixel.

    Args:
        fixed: the reference view, e.g. an OCT en-face mean projection, ``(H, W)``.
        moving: the view to move, e.g. the maximum projection of a confocal stack's vessel channel; its size may
            differ from the fixed one's.
        max_angle_deg: the largest rotation searched, either way (about each quarter turn with ``any_orientation``).
        max_scale_change: the largest relative scale change searched, either way, about ``scale_prior``.
        max_shift: the largest shift searched, as a fraction of each side.
        invert_fixed: negate the fixed view (OCT vessels are dark shadows, confocal vessels bright).
        scale_prior: the expected scale, moving pixels per fixed pixel (the ratio of the two pixel sizes, fixed over
            moving).
        any_orientation: also search quarter turns and mirror images (a flat-mount's orientation on the slide, or two
            file layouts with swapped axes, are not known); ``False`` searches near the identity only.
        search_size: the longest side of the copies the grid search runs on.

    Returns:
        The transform and the normalised correlations of the two feature views before (centres aligned) and after.

    Raises:
        ValueError: when the inputs are not 2D or a view has no contrast.
    """
    fixed, moving = np.asarray(fixed), np.asarray(moving)
    if fixed.ndim != 2 or moving.ndim != 2:
        raise ValueError(f"register_enface takes two 2D views, got shapes {fixed.shape} and {moving.shape}")
    if float(np.ptp(fixed)) == 0.0 or float(np.ptp(moving)) == 0.0:
        raise ValueError("register_enface: a view has no contrast (constant image)")
    # the same physical detail in both: the finer grid's filters are wider by the ratio of the pixel sizes
    widen_f, widen_m = max(1.0, 1.0 / scale_prior), max(1.0, scale_prior)
    f = enface_features(-fixed if invert_fixed else fixed, widen_f, 8.0 * widen_f)
    m = enface_features(moving, widen_m, 8.0 * widen_m)
    before = _correlation(f, _warp(m, f.shape, 0.0, scale_prior, (0.0, 0.0)))
    # the grid search on smaller copies: fixed pixels of size k, so the scale grows by k
    k = max(1.0, max(f.shape) / search_size)
    f_small = ndimage.zoom(f, 1.0 / k, order=1) if k > 1 else f
    m_search = ndimage.gaussian_filter(m, 0.5 * k * scale_prior) if k > 1 else m  # no aliasing when sampled k apart
    limit = [int(round(max_shift * n)) for n in f_small.shape]
    n_scales = max(0, int(round(max_scale_change / 0.02)))
    turns = (0.0, 90.0, 180.0, -90.0) if any_orientation else (0.0,)
    best = (-np.inf, 0.0, scale_prior, np.zeros(2), False)
    for mirrored in (False, True) if any_orientation else (False,):
        for turn in turns:
            for angle in turn + np.arange(-round(max_angle_deg), round(max_angle_deg) + 1, 1.0):
                for scale in scale_prior * (1.0 + 0.02 * np.arange(-n_scales, n_scales + 1)):
                    w = _warp(m_search, f_small.shape, angle, scale * k, (0.0, 0.0), mirrored)
                    score, d = _best_shift(f_small, w, limit)
                    if score > best[0]:
                        shift = -_matrix(angle, scale * k, mirrored) @ d
                        best = (score, float(angle), float(scale), shift, mirrored)
    mirrored = best[4]

    def cost(p: np.ndarray) -> float:
        return -_correlation(f, _warp(m, f.shape, p[0], math.exp(p[1]), p[2:], mirrored))

    x0 = np.array([best[1], math.log(best[2]), *best[3]])
    res = optimize.minimize(cost, x0, method="Powell", options={"xtol": 1e-3, "ftol": 1e-6})
    angle = (float(res.x[0]) + 180.0) % 360.0 - 180.0
    scale, shift = math.exp(float(res.x[1])), (float(res.x[2]), float(res.x[3]))
    after = -float(res.fun)
    if after < before:  # never report a transform worse than leaving the views as they are
        return EnFaceRegistration(0.0, scale_prior, (0.0, 0.0), False, before, before)
    return EnFaceRegistration(angle, scale, shift, mirrored, before, after)


def warp_in_plane(
    stack: np.ndarray, registration: EnFaceRegistration, fixed_size: Sequence[int], order: int = 1
) -> np.ndarray:
    """Resample every 2D plane of ``stack`` (``(..., H, W)``: channels, slices) onto the fixed grid.

    Args:
        stack: the moving image, its last two axes the en-face plane.
        registration: the transform from :func:`register_enface`.
        fixed_size: ``(H, W)`` of the fixed grid.
        order: 1 (linear) or 0 (nearest).

    Returns:
        float32 array ``(..., fixed H, fixed W)``; points that fall outside the moving image are 0.
    """
    stack = np.asarray(stack)
    r = registration
    planes = stack.reshape(-1, *stack.shape[-2:])
    out = np.stack([_warp(p, fixed_size, r.angle_deg, r.scale, r.shift, r.mirrored, order) for p in planes])
    return out.reshape(*stack.shape[:-2], *fixed_size)
