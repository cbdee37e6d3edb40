"""FID and KID on feature vectors, and on images through an :class:`InceptionFeatureExtractor`.

FID is the Frechet distance of Gaussians fitted to the two feature sets, computed in factor form (see
:func:`frechet_distance`) rather than with MONAI's :class:`monai.metrics.FIDMetric`, whose ``scipy.linalg.sqrtm`` of a
2048 x 2048 matrix takes about 40 s on one CPU core; both give the same number (a test pins it against the sqrtm
formula). KID is computed here: the unbiased MMD^2 with the cubic polynomial kernel ``k(x, y) = (x.y / d + 1)^3``
averaged over random subsets (Binkowski et al. 2018; the torch-fidelity defaults: 100 subsets of 1000, seed 0).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from medtranslate.errors import ConfigError, InputError
from medtranslate.metrics.features import InceptionFeatureExtractor

__all__ = [
    "KIDResult",
    "frechet_distance",
    "polynomial_mmd2_unbiased",
    "kernel_inception_distance",
    "fid_kid",
    "FIDKID",
]

logger = logging.getLogger(__name__)


def _features(x: Any, what: str) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    t = t.detach().cpu().double()
    if t.ndim != 2:
        raise InputError(None, f"{what} features must be (N, dims), got shape {tuple(t.shape)}")
    if t.shape[0] < 2:
        raise InputError(None, f"{what} features: at least 2 images are needed, got {t.shape[0]}")
    if not torch.isfinite(t).all():
        raise InputError(None, f"{what} features hold NaN or infinite values")
    return t


def frechet_distance(generated: Any, real: Any) -> float:
    """Frechet Inception Distance between two feature sets (lower is better, 0 for identical statistics).

    Args:
        generated: (N, d) features of generated images.
        real: (M, d) features of real images.

    Returns:
        ``|mu_g - mu_r|^2 + Tr(S_g + S_r - 2 (S_g S_r)^(1/2))``.

    Raises:
        InputError: on wrong shapes, fewer than 2 images per set, or non-finite features.
    """
    g, r = _features(generated, "generated"), _features(real, "real")
    if g.shape[1] != r.shape[1]:
        raise InputError(None, f"feature sizes differ: generated {g.shape[1]}, real {r.shape[1]}")
    if min(g.shape[0], r.shape[0]) <= g.shape[1]:
        logger.info(
            "FID with %d / %d images for %d-d features: the covariances are rank-deficient, so the value is biased "
            "upwards; compare it only with values computed from the same numbers of images",
            g.shape[0],
            r.shape[0],
            g.shape[1],
        )
    f_g, f_r = _centred(g), _centred(r)
    if min(f_g.shape[0], f_r.shape[0]) > g.shape[1]:  # both sets larger than d: d x d factors keep the SVD small
        f_g, f_r = _reduce(f_g), _reduce(f_r)
    # S = F^T F for both sets, so the eigenvalues of S_g S_r are the squared singular values of F_g F_r^T and
    # Tr((S_g S_r)^(1/2)) is the nuclear norm of F_g F_r^T: exact, and at most a d x d SVD instead of sqrtm.
    tr_covmean = torch.linalg.svdvals(f_g @ f_r.T).sum()
    mean_term = (g.mean(0) - r.mean(0)).square().sum()
    value = mean_term + f_g.square().sum() + f_r.square().sum() - 2.0 * tr_covmean
    return max(float(value), 0.0)  # a squared distance: a negative value is rounding only


def _centred(x: torch.Tensor) -> torch.Tensor:
    """``F`` (N, d) with ``F^T F`` equal to the unbiased covariance of ``x``: the centred samples over sqrt(N - 1)."""
    return (x - x.mean(0)) / float(x.shape[0] - 1) ** 0.5


def _reduce(f: torch.Tensor) -> torch.Tensor:
    """A (d, d) factor with the same ``F^T F`` as ``f``, from the eigen-decomposition of ``F^T F``."""
    w, v = torch.linalg.eigh(f.T @ f)
    return w.clamp_min(0).sqrt()[:, None] * v.T


def polynomial_mmd2_unbiased(
    x: torch.Tensor, y: torch.Tensor, degree: int = 3, gamma: float | None = None, coef0: float = 1.0
) -> float:
    """Unbiased MMD^2 between two samples with the polynomial kernel ``(gamma x.y + coef0)^degree``.

    Args:
        x: (m, d) first sample.
        y: (n, d) second sample.
        degree: kernel degree (3 for KID).
        gamma: kernel scale; ``None`` means ``1 / d`` (KID).
        coef0: kernel offset (1 for KID).

    Returns:
        ``sum_{i!=j} k(x_i, x_j) / (m(m-1)) + sum_{i!=j} k(y_i, y_j) / (n(n-1)) - 2 sum_{i,j} k(x_i, y_j) / (mn)``.
    """
    x, y = x.double(), y.double()
    g = 1.0 / x.shape[1] if gamma is None else float(gamma)
    m, n = x.shape[0], y.shape[0]
    k_xx = (x @ x.T * g + coef0) ** degree
    k_yy = (y @ y.T * g + coef0) ** degree
    k_xy = (x @ y.T * g + coef0) ** degree
    term_x = (k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1))
    term_y = (k_yy.sum() - k_yy.diagonal().sum()) / (n * (n - 1))
    return float(term_x + term_y - 2.0 * k_xy.sum() / (m * n))


@dataclass(frozen=True)
class KIDResult:
    """Kernel Inception Distance over random subsets.

    Args:
        mean: mean of the per-subset unbiased MMD^2 (the KID value; lower is better, can be slightly negative).
        std: standard deviation over subsets (numpy's default, ddof 0, as torch-fidelity).
        num_subsets: how many subsets were drawn.
        subset_size: images per subset and per set.
    """

    mean: float
    std: float
    num_subsets: int
    subset_size: int


def kernel_inception_distance(
    generated: Any,
    real: Any,
    num_subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
    seed: int = 0,
) -> KIDResult:
    """KID between two feature sets: unbiased polynomial-kernel MMD^2 averaged over random subsets.

    Each subset draws ``subset_size`` rows without replacement from each set (numpy ``RandomState(seed)``, as
    torch-fidelity). When a set holds fewer rows than ``subset_size``, the subset size becomes the smaller set size
    (the returned :class:`KIDResult` says which size was used). MONAI's MMDMetric is not used: its kernel is linear,
    which is not KID.

    Args:
        generated: (N, d) features of generated images.
        real: (M, d) features of real images.
        num_subsets: number of subsets.
        subset_size: rows per subset.
        degree: kernel degree.
        gamma: kernel scale, ``None`` for ``1 / d``.
        coef0: kernel offset.
        seed: subset sampling seed.

    Raises:
        InputError: on wrong shapes, fewer than 2 images per set, or non-finite features.
        ConfigError: on a non-positive ``num_subsets`` or ``subset_size``.
    """
    g, r = _features(generated, "generated"), _features(real, "real")
    if g.shape[1] != r.shape[1]:
        raise InputError(None, f"feature sizes differ: generated {g.shape[1]}, real {r.shape[1]}")
    if num_subsets < 1 or subset_size < 2:
        raise ConfigError(None, f"KID needs num_subsets >= 1 and subset_size >= 2, got {num_subsets}, {subset_size}")
    size = min(int(subset_size), g.shape[0], r.shape[0])
    rng = np.random.RandomState(seed)
    values = []
    for _ in range(int(num_subsets)):
        gi = torch.from_numpy(rng.choice(g.shape[0], size, replace=False))
        ri = torch.from_numpy(rng.choice(r.shape[0], size, replace=False))
        values.append(polynomial_mmd2_unbiased(g[gi], r[ri], degree=degree, gamma=gamma, coef0=coef0))
    arr = np.asarray(values)
    return KIDResult(float(arr.mean()), float(arr.std()), int(num_subsets), size)


def fid_kid(
    real_images: Any,
    generated_images: Any,
    extractor: InceptionFeatureExtractor,
    data_range: tuple[float, float],
    generated_data_range: tuple[float, float] | None = None,
    fid_dims: Sequence[int] = (768, 2048),
    kid_dims: int | None = 2048,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """FID at each of ``fid_dims`` and KID, from images, with the feature network recorded in every entry.

    The paper's Table 2 (seed 000) reports FID768, FID2048 and KID: the defaults compute exactly those. The extractor
    must have been built with every dimension used here (``InceptionFeatureExtractor(dims=(768, 2048))``).

    Args:
        real_images: images of the real target domain (see ``InceptionFeatureExtractor.preprocess``).
        generated_images: translated images.
        extractor: the feature network.
        data_range: (low, high) of ``real_images`` values.
        generated_data_range: (low, high) of ``generated_images``; defaults to ``data_range``.
        fid_dims: feature sizes for FID.
        kid_dims: feature size for KID, ``None`` to skip KID.
        kid_subsets: KID subsets.
        kid_subset_size: KID subset size (capped by the number of images).
        seed: KID subset seed.

    Returns:
        ``{"FID768": {"value", "n_real", "n_generated", "feature_network"}, ..., "KID2048": {... "std",
        "subsets", "subset_size"}}``, ready for :func:`medtranslate.metrics.write_report`.

    Raises:
        ConfigError: when the extractor does not produce a requested dimension.
    """
    needed = list(dict.fromkeys([*fid_dims, *([kid_dims] if kid_dims else [])]))
    missing = [d for d in needed if d not in extractor.dims]
    if missing:
        raise ConfigError(None, f"the feature extractor was built for dims {list(extractor.dims)}, not {missing}")
    real = extractor.extract(real_images, data_range)
    gen = extractor.extract(generated_images, generated_data_range or data_range)
    results: dict[str, dict[str, Any]] = {}
    counts = {"n_real": int(real[needed[0]].shape[0]), "n_generated": int(gen[needed[0]].shape[0])}
    for d in fid_dims:
        value = frechet_distance(gen[d], real[d])
        results[f"FID{d}"] = {"value": value, **counts, "feature_network": extractor.info(d).to_dict()}
    if kid_dims:
        kid = kernel_inception_distance(
            gen[kid_dims], real[kid_dims], num_subsets=kid_subsets, subset_size=kid_subset_size, seed=seed
        )
        results[f"KID{kid_dims}"] = {
            "value": kid.mean,
            "std": kid.std,
            "subsets": kid.num_subsets,
            "subset_size": kid.subset_size,
            **counts,
            "feature_network": extractor.info(kid_dims).to_dict(),
        }
    return results


class FIDKID:
    """FID (at each of ``fid_dims``) and KID of two image sets: a set metric of an evaluation workflow.

    The Inception feature network is built on the first call (a local file, see docs/evaluation.md) and kept.

    Args:
        fid_dims: feature sizes for FID (seed 000's Table 2: 768 and 2048).
        kid_dims: feature size for KID, ``None`` to skip KID.
        inception_path: local Inception file (``None``: the default, see
            :func:`~medtranslate.metrics.default_inception_path`).
        device: where the feature network runs.
        data_range: (low, high) of the image values.
        prefix: text put before every result name (``"identity "`` gives ``"identity FID2048"``), so that two set
            metrics of one evaluation (e.g. the translation and its identity baseline) keep apart.
    """

    def __init__(
        self,
        fid_dims: Sequence[int] = (768, 2048),
        kid_dims: int | None = 2048,
        inception_path: str | os.PathLike | None = None,
        device: Any = "cpu",
        data_range: Sequence[float] = (-1.0, 1.0),
        prefix: str = "",
    ) -> None:
        self.prefix = str(prefix)
        self.fid_dims = tuple(int(d) for d in fid_dims)
        self.kid_dims = None if kid_dims in (None, 0) else int(kid_dims)
        self.inception_path, self.device = inception_path, device
        self.data_range = (float(data_range[0]), float(data_range[1]))
        self._extractor: InceptionFeatureExtractor | None = None

    def __call__(self, generated: Sequence[Any], real: Sequence[Any]) -> dict[str, dict[str, Any]]:
        """The FID / KID entries of ``generated`` against ``real`` (see :func:`fid_kid`).

        Args:
            generated: the translated images.
            real: the real images of the target domain.

        Raises:
            ConfigError: when either set has fewer than 2 images.
        """
        if min(len(generated), len(real)) < 2:
            raise ConfigError(
                None,
                f"{len(generated)} translated and {len(real)} real image(s); FID/KID need at least 2 of each: "
                "evaluate more stacks, or use images='slices'",
            )
        if self._extractor is None:
            dims = list(dict.fromkeys([*self.fid_dims, *([self.kid_dims] if self.kid_dims else [])]))
            self._extractor = InceptionFeatureExtractor(self.inception_path, dims=dims, device=self.device)
        results = fid_kid(
            list(real), list(generated), self._extractor, self.data_range, fid_dims=self.fid_dims,
            kid_dims=self.kid_dims,
        )  # fmt: skip
        return {f"{self.prefix}{k}": v for k, v in results.items()}
