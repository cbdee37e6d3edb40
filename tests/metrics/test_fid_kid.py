"""FID and KID against hand-computed values on small feature sets."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.linalg
import torch

from medtranslate.errors import ConfigError, InputError
from medtranslate.metrics import frechet_distance, kernel_inception_distance, polynomial_mmd2_unbiased


def _whitened(n: int, d: int, seed: int) -> np.ndarray:
    """n samples whose sample mean is exactly 0 and sample covariance exactly the identity."""
    z = np.random.default_rng(seed).standard_normal((n, d))
    z -= z.mean(0)
    cov = np.cov(z, rowvar=False)
    return z @ np.linalg.inv(np.linalg.cholesky(cov)).T


def test_fid_of_identical_sets_is_zero():
    f = torch.randn(40, 6, dtype=torch.float64)
    assert frechet_distance(f, f.clone()) == pytest.approx(0.0, abs=1e-8)


def test_fid_closed_form_for_gaussians_with_known_moments():
    d = 5
    mu1, mu2 = np.arange(d, dtype=float), np.arange(d, dtype=float)[::-1] * 0.5
    s1, s2 = np.array([1.0, 2.0, 0.5, 3.0, 1.5]), np.array([2.0, 1.0, 1.0, 0.5, 1.5])
    x = mu1 + _whitened(60, d, 1) * s1  # sample covariance exactly diag(s1^2)
    y = mu2 + _whitened(80, d, 2) * s2
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((s1 - s2) ** 2)  # Tr(S1 + S2 - 2 sqrt(S1 S2)) for diagonal S
    assert frechet_distance(x, y) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(y, x) == pytest.approx(expected, rel=1e-9)


def test_fid_general_covariances_match_the_formula():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((50, 4)) @ rng.standard_normal((4, 4))
    y = rng.standard_normal((70, 4)) @ rng.standard_normal((4, 4)) + 1.0
    m1, m2, c1, c2 = x.mean(0), y.mean(0), np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    expected = np.sum((m1 - m2) ** 2) + np.trace(c1 + c2 - 2 * np.real(scipy.linalg.sqrtm(c1 @ c2)))
    assert frechet_distance(x, y) == pytest.approx(expected, rel=1e-7)


def test_fid_rejects_bad_features():
    with pytest.raises(InputError, match="at least 2"):
        frechet_distance(torch.randn(1, 4), torch.randn(5, 4))
    with pytest.raises(InputError, match="differ"):
        frechet_distance(torch.randn(5, 4), torch.randn(5, 3))
    with pytest.raises(InputError, match=r"\(N, dims\)"):
        frechet_distance(torch.randn(5, 4, 1), torch.randn(5, 4))
    bad = torch.randn(5, 4)
    bad[0, 0] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        frechet_distance(bad, torch.randn(5, 4))


def _mmd2_loops(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, written with explicit loops."""
    d = x.shape[1]

    def k(a, b):
        return (np.dot(a, b) / d + 1.0) ** 3

    m, n = len(x), len(y)
    kxx = sum(k(x[i], x[j]) for i, j in itertools.product(range(m), range(m)) if i != j) / (m * (m - 1))
    kyy = sum(k(y[i], y[j]) for i, j in itertools.product(range(n), range(n)) if i != j) / (n * (n - 1))
    kxy = sum(k(x[i], y[j]) for i, j in itertools.product(range(m), range(n))) / (m * n)
    return kxx + kyy - 2 * kxy


def test_polynomial_mmd_matches_direct_formula_with_unequal_sizes():
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((6, 4)), rng.standard_normal((9, 4)) + 0.3
    got = polynomial_mmd2_unbiased(torch.from_numpy(x), torch.from_numpy(y))
    assert got == pytest.approx(_mmd2_loops(x, y), rel=1e-10)


def test_kid_with_one_full_subset_equals_the_direct_formula():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((8, 3)), rng.standard_normal((8, 3)) * 1.5
    res = kernel_inception_distance(x, y, num_subsets=1, subset_size=1000)
    assert res.subset_size == 8 and res.num_subsets == 1  # capped by the number of images
    assert res.mean == pytest.approx(_mmd2_loops(x, y), rel=1e-10)  # a subset of all rows is a permutation
    assert res.std == 0.0


def test_kid_subsets_are_seeded_and_separate_distributions():
    rng = np.random.default_rng(6)
    a, b, c = rng.standard_normal((60, 8)), rng.standard_normal((60, 8)), rng.standard_normal((60, 8)) + 1.0
    same = kernel_inception_distance(a, b, num_subsets=20, subset_size=30, seed=1)
    shifted = kernel_inception_distance(a, c, num_subsets=20, subset_size=30, seed=1)
    again = kernel_inception_distance(a, c, num_subsets=20, subset_size=30, seed=1)
    assert abs(same.mean) < 0.05 < shifted.mean
    assert shifted == again
    assert shifted.std > 0


def test_kid_rejects_bad_settings():
    with pytest.raises(ConfigError):
        kernel_inception_distance(torch.randn(4, 2), torch.randn(4, 2), num_subsets=0)
    with pytest.raises(InputError):
        kernel_inception_distance(torch.randn(4, 2), torch.randn(4, 3))


@pytest.mark.parametrize("n_gen, n_real, dims", [(12, 9, 32), (80, 70, 16), (40, 10, 24), (10, 40, 24)])
def test_frechet_distance_matches_the_sqrtm_formula(n_gen, n_real, dims):
    """The factor form equals |mu_g - mu_r|^2 + Tr(S_g + S_r - 2 sqrtm(S_g S_r)), with fewer or more images than d."""
    import scipy.linalg

    rng = np.random.default_rng(1)
    g = rng.normal(size=(n_gen, dims)) @ rng.normal(size=(dims, dims))
    r = rng.normal(0.3, 1.5, size=(n_real, dims))
    s_g, s_r = np.cov(g, rowvar=False), np.cov(r, rowvar=False)
    covmean = scipy.linalg.sqrtm(s_g @ s_r).real
    expected = np.sum((g.mean(0) - r.mean(0)) ** 2) + np.trace(s_g + s_r - 2 * covmean)
    assert frechet_distance(g, r) == pytest.approx(expected, rel=1e-6, abs=1e-6)
