"""Results against a hand computation on fixed ratings: MOS per category, 95 % CI, rater counts, Kendall's W."""

from __future__ import annotations

import json
import math

import pytest
from rating_helpers import MODELS

from medtranslate.errors import InputError
from medtranslate.rating.results import compute_results, kendall_w, mean_ci, results_markdown, write_results
from medtranslate.rating.study import rank_scores

A, B, C = MODELS
T2 = 4.302652729911275  # t(0.975, 2 degrees of freedom), from a printed table
# rater -> set -> ("rank", best-first models) or ("slider", {model: score}); r3 did not rate case2
FIXED = {
    "r1": {
        "case0": ("rank", [A, B, C]),
        "case1": ("slider", {A: 80, B: 60, C: 20}),
        "case2": ("slider", {A: 70, B: 70, C: 10}),
    },
    "r2": {"case0": ("rank", [B, A, C]), "case1": ("slider", {A: 90, B: 30, C: 40}), "case2": ("rank", [A, C, B])},
    "r3": {"case0": ("slider", {A: 60, B: 40, C: 20}), "case1": ("rank", [A, B, C])},
}


@pytest.fixture()
def rated(study):
    for rater, sets in FIXED.items():
        r = study.store.rater_for_token(study.store.add_rater(rater))
        for s in study.sets:
            if s.name not in sets:
                continue
            method, value = sets[s.name]
            if method == "rank":
                order = [s.outputs[m] for m in value]
                scores, positions = rank_scores(order), {i: p for p, i in enumerate(order, 1)}
            else:
                scores, positions = {s.outputs[m]: v for m, v in value.items()}, None
            study.store.save_set(r, s.name, method, scores, positions, {"method": method})
    return study


def _hand_mean_ci(values):
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, T2 * sd / math.sqrt(n)


def test_mos_equals_a_hand_computation(rated):
    res = compute_results(rated)
    # model A, per rater means: reference (case0) 100, 50.5, 60; blind 75, 95, 100; total 83.33, 80.17, 80
    for cat, values in {
        "reference": [100.0, 50.5, 60.0],
        "blind": [(80 + 70) / 2, (90 + 100) / 2, 100.0],
        "total": [(100 + 80 + 70) / 3, (50.5 + 90 + 100) / 3, (60 + 100) / 2],
    }.items():
        mean, half = _hand_mean_ci(values)
        got = res["mos"][A][cat]
        assert got["n"] == 3
        assert got["mean"] == pytest.approx(mean) and got["ci95"] == pytest.approx(half)
        assert got["ci_low"] == pytest.approx(mean - half) and got["ci_high"] == pytest.approx(mean + half)
    # model C, blind: r1 (20 + 10) / 2, r2 (40 + 50.5) / 2, r3 1
    mean, half = _hand_mean_ci([15.0, 45.25, 1.0])
    assert res["mos"][C]["blind"]["mean"] == pytest.approx(mean)
    assert res["mos"][C]["blind"]["ci95"] == pytest.approx(half)
    assert res["n_sets"] == {"reference": 1, "blind": 2, "total": 3} and res["n_raters"] == 3
    done = {r["name"]: (r["sets_done"], r["methods"]) for r in res["raters"]}
    assert done == {
        "r1": (3, {"rank": 1, "slider": 2}),
        "r2": (3, {"rank": 2, "slider": 1}),
        "r3": (2, {"rank": 1, "slider": 1}),
    }


def test_kendall_w_equals_a_hand_computation(rated):
    res = compute_results(rated)
    w = {r["set"]: r for r in res["kendall_w"]["total"]["sets"]}
    # case0: ranks (1,2,3), (2,1,3), (1,2,3): rank sums 4, 5, 9, S = 14, W = 12 S / (m^2 (n^3 - n)) = 168 / 216
    assert w["case0"]["w"] == pytest.approx(168 / 216) and w["case0"]["m"] == 3
    # case2: r1 ties A and B (ranks 1.5, 1.5, 3; T = 2^3 - 2 = 6), r2 ranks (1, 3, 2): sums 2.5, 4.5, 5, S = 3.5,
    # W = 12 * 3.5 / (2^2 * 24 - 2 * 6) = 0.5
    assert w["case2"]["w"] == pytest.approx(0.5) and w["case2"]["m"] == 2
    assert w["case1"]["w"] == pytest.approx(168 / 216)
    assert res["kendall_w"]["blind"]["mean_w"] == pytest.approx((168 / 216 + 0.5) / 2)
    assert res["kendall_w"]["reference"]["mean_w"] == pytest.approx(168 / 216)


def test_kendall_w_limits():
    assert kendall_w([[3, 2, 1], [3, 2, 1]])["w"] == pytest.approx(1.0)
    assert kendall_w([[3, 2, 1], [1, 2, 3]])["w"] == pytest.approx(0.0)
    assert kendall_w([[3, 2, 1]])["w"] is None  # one rater
    assert kendall_w([[5, 5], [5, 5]])["w"] is None  # all tied
    assert mean_ci([42.0]) == {"mean": 42.0, "ci95": None, "ci_low": None, "ci_high": None, "n": 1}


def test_reports_and_a_merged_evaluate_report(rated, tmp_path):
    report = tmp_path / "metrics.json"
    report.write_text(
        json.dumps({"report": {}, "results": {"Total": {"FID768": {"value": 0.777}, "KID": {"value": 0.155}}}})
    )
    res = compute_results(rated, {A: report})
    assert res["metrics"][A] == {"total": {"FID768": 0.777, "KID": 0.155}}
    paths = write_results(res, tmp_path / "out")
    assert json.loads(paths["json"].read_text())["mos"][A]["total"]["n"] == 3
    md = paths["markdown"].read_text()
    assert "| model |" in md and "Total FID768" in md and "0.777" in md and "Kendall's W" in md
    assert paths["figure"].stat().st_size > 1000
    assert results_markdown(res) == md
    with pytest.raises(InputError, match="model 'nobody'"):
        compute_results(rated, {"nobody": report})
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(InputError, match="cannot be read as an evaluate report"):
        compute_results(rated, {A: bad})
