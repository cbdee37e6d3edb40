"""benchmarks/learning.py: the supervised rows (confocal2he despeckling, fundus_synthesis EDSR) train the demo's
configuration and score it against the ground truth beside its baselines."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
_SPEC = importlib.util.spec_from_file_location("learning", ROOT / "benchmarks" / "learning.py")
learning = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(learning)


@pytest.mark.parametrize(
    ("task", "metric", "baseline"),
    [("despeckle", "psnr_over_median", "psnr_median"), ("edsr", "psnr_over_bicubic", "psnr_bicubic")],
)
def test_supervised_rows_score_against_their_baselines(tmp_path, task, metric, baseline):
    result = learning.run_task(task, "none", iterations=4, every=2, data=tmp_path, seed=0)
    assert [row["iteration"] for row in result["curve"]] == [2, 4]
    identity = result["identity"]
    assert identity[baseline] > 10.0  # a PSNR in dB
    if task == "despeckle":
        assert identity[metric] < -1.0  # the speckled image is far below the 3 x 3 median
    else:
        assert identity[metric] == 0.0  # the identity of super-resolution is the bicubic baseline itself
    for row in result["curve"]:
        assert row["psnr"] == pytest.approx(identity[baseline] + row[metric], abs=1e-3)
    assert set(learning.TARGETS[task]) == {metric}
