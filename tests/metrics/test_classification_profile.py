"""Classification scores with confidence intervals, and the B-scan layer-profile correlation (seed 002)."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
import torch

from medtranslate.data.samples import fundus_image, oct_bscan
from medtranslate.metrics import classification_scores, depth_profile, layer_profile_correlation, mean_ci


def test_scores_perfect_and_chance():
    y = torch.tensor([0, 1, 2, 2])
    perfect = torch.nn.functional.one_hot(y, 3).float()
    s = classification_scores(perfect, y, ["A", "B", "C"])
    assert s["accuracy"] == 1.0 and s["macro_f1"] == 1.0 and s["auc"] == {"A": 1.0, "B": 1.0, "C": 1.0}
    wrong = torch.nn.functional.one_hot(torch.tensor([1, 2, 0, 0]), 3).float()
    s = classification_scores(wrong, y, ["A", "B", "C"])
    assert s["accuracy"] == 0.0 and s["macro_f1"] == 0.0
    s = classification_scores(perfect[:2], y[:2], ["A", "B", "C"])
    assert math.isnan(s["auc"]["C"])  # no C at all: AUC undefined


def test_mean_ci():
    m, lo, hi = mean_ci([1.0, 2.0, 3.0])
    assert m == 2.0 and lo < 2.0 < hi and hi - 2.0 == pytest.approx(4.303 * 1.0 / math.sqrt(3), rel=1e-3)
    assert mean_ci([0.5]) == (0.5, 0.5, 0.5)
    assert all(math.isnan(v) for v in mean_ci([float("nan")]))


def test_layer_profile_rewards_layers_not_a_bright_middle():
    oct_a, _, _ = oct_bscan((64, 64), 1)
    oct_b, _, _ = oct_bscan((64, 64), 2)
    t = torch.from_numpy(oct_a.T.copy())[None]  # medtranslate's (C, X, Y) layout: depth last
    assert layer_profile_correlation(t, t) == pytest.approx(1.0)
    other = layer_profile_correlation(torch.from_numpy(oct_b.T.copy())[None], t)  # another eye: layers shifted a bit
    fundus, _ = fundus_image((64, 64), 1)
    f = torch.from_numpy(np.transpose(fundus, (2, 1, 0)).copy())
    assert layer_profile_correlation(f, t) < 0.0 < other  # the untouched photograph has no layers
    assert layer_profile_correlation(f, t, detrend=0) > 0.3  # ... but a bright middle, which the raw profile rewards
    flipped = t.flip(-1)  # upside down: layers at the wrong depths
    assert layer_profile_correlation(flipped, t) < layer_profile_correlation(t, t)
    assert depth_profile(t).shape == (64,) and depth_profile(oct_a, depth_axis=0).shape == (64,)


def test_fidkid_prefix_keeps_two_set_metrics_apart(monkeypatch):
    module = importlib.import_module("medtranslate.metrics.fid_kid")  # the module, not the function of that name
    monkeypatch.setattr(module, "InceptionFeatureExtractor", lambda *a, **k: object())
    monkeypatch.setattr(module, "fid_kid", lambda *a, **k: {"FID2048": {"value": 1.0}})
    assert module.FIDKID(prefix="identity baseline ")([0, 1], [0, 1]) == {"identity baseline FID2048": {"value": 1.0}}
    assert module.FIDKID()([0, 1], [0, 1]) == {"FID2048": {"value": 1.0}}
