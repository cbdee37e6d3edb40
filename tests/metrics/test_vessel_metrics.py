"""Vessel statistics and the single-reference SSIM protocol (seed 004)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medtranslate.metrics import VESSEL_STATISTICS, reference_ssim, summarize_statistics, vessel_statistics


def _cross(size: int = 21) -> np.ndarray:
    m = np.zeros((size, size), bool)
    m[size // 2, 2:-2] = True
    m[2:-2, size // 2] = True
    return m


def test_cross_has_one_branch_point_four_ends_one_component():
    s = vessel_statistics(_cross())
    assert set(s) == set(VESSEL_STATISTICS)
    assert s["branch_points"] == 1 and s["end_points"] == 4 and s["components"] == 1
    assert s["density"] == pytest.approx(_cross().mean())
    assert s["skeleton_length"] == pytest.approx(_cross().sum() / 21, rel=0.1)


def test_statistics_accept_0_255_maps_tensors_and_channel_axis():
    m = _cross().astype(np.float32) * 255
    a = vessel_statistics(m)
    b = vessel_statistics(torch.from_numpy(_cross()[None].astype(np.float32)))
    assert a == b
    with pytest.raises(ValueError, match="2D"):
        vessel_statistics(np.zeros((2, 4, 4, 4)))


def test_two_separate_lines_are_two_components_without_branches():
    m = np.zeros((20, 20), bool)
    m[5, 2:18] = True
    m[15, 2:18] = True
    s = vessel_statistics(m)
    assert s["components"] == 2 and s["branch_points"] == 0 and s["end_points"] == 4


def test_summary_is_mean_and_std():
    out = summarize_statistics([_cross(), np.zeros((21, 21), bool)])
    assert out["components"]["value"] == pytest.approx(0.5) and out["components"]["n"] == 2
    assert out["components"]["std"] == pytest.approx(0.5)


def test_reference_ssim_identical_is_one_and_exclude_drops_the_reference():
    rng = np.random.default_rng(0)
    ref = rng.random((32, 32)).astype(np.float32)
    other = rng.random((32, 32)).astype(np.float32)
    res = reference_ssim([ref, other], ref, data_range=1.0)
    assert res["n"] == 2 and 0.4 < res["value"] < 0.6
    only_other = reference_ssim([ref, other], ref, data_range=1.0, exclude=[0])
    assert only_other["n"] == 1 and only_other["value"] < 0.2
    assert reference_ssim([ref], ref, 1.0)["value"] == pytest.approx(1.0, abs=1e-5)
