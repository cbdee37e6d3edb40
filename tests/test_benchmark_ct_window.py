"""benchmarks/ct_window_bound.py: the look-up-table bound on small paired phantoms."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from medtranslate.data.samples import write_sample_dataset

ROOT = Path(__file__).parents[1]
_SPEC = importlib.util.spec_from_file_location("ct_window_bound", ROOT / "benchmarks" / "ct_window_bound.py")
ct_window_bound = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(ct_window_bound)


@pytest.fixture(scope="module")
def datalist(tmp_path_factory):
    return write_sample_dataset(tmp_path_factory.mktemp("ct_mr"), "ct_mr", n=3, seed=0, shape=(40, 40, 20))


def test_lut_beats_identity_and_brain_window_loses_fat(datalist):
    soft = ct_window_bound.window_bound(datalist, [-160, 240], bins=64)
    brain = ct_window_bound.window_bound(datalist, [0, 80], bins=64)
    for r in (soft, brain):
        assert -1.0 <= r["identity_ssim"] <= 1.0 and -1.0 <= r["lut_ssim"] <= 1.0
    assert soft["lut_ssim"] > soft["identity_ssim"]
    assert brain["lut_ssim"] < soft["lut_ssim"]  # fat = air and marrow = bone in the brain window


def test_smoothing_changes_the_table(datalist):
    plain = ct_window_bound.window_bound(datalist, [-160, 240], bins=64)
    smooth = ct_window_bound.window_bound(datalist, [-160, 240], bins=64, sigma=1.0)
    assert plain["identity_ssim"] == pytest.approx(smooth["identity_ssim"])
    assert plain["lut_ssim"] != pytest.approx(smooth["lut_ssim"])
