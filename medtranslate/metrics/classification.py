"""Classification scores (accuracy, macro-F1, per-class AUC) and confidence intervals across seeds (seed 002)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from monai.metrics import compute_roc_auc
from scipy import stats

__all__ = ["classification_scores", "mean_ci"]


def classification_scores(
    probabilities: torch.Tensor, labels: torch.Tensor, class_names: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, macro-F1 and one-vs-rest ROC AUC per class.

    Args:
        probabilities: ``(N, K)`` class probabilities (or any scores ranked like them).
        labels: ``(N,)`` class indices.
        class_names: the ``K`` names, for the AUC keys.

    Returns:
        ``{"accuracy", "macro_f1", "auc": {name: value or nan}}``; a class's AUC is ``nan`` when the labels hold only
        that class or none of it (AUC undefined). F1 of a class never predicted and never present is left out of the
        macro mean.
    """
    probs = probabilities.detach().float().cpu()
    y = labels.detach().long().cpu()
    k = len(class_names)
    pred = probs.argmax(dim=1)
    accuracy = float((pred == y).float().mean()) if len(y) else float("nan")
    f1s = []
    for c in range(k):
        tp = int(((pred == c) & (y == c)).sum())
        fp = int(((pred == c) & (y != c)).sum())
        fn = int(((pred != c) & (y == c)).sum())
        if tp + fp + fn:
            f1s.append(2 * tp / (2 * tp + fp + fn))
    auc = {}
    for c, name in enumerate(class_names):
        target = (y == c).float()
        if 0 < int(target.sum()) < len(y):
            auc[name] = float(compute_roc_auc(probs[:, c], target))
        else:
            auc[name] = float("nan")
    return {"accuracy": accuracy, "macro_f1": float(np.mean(f1s)) if f1s else float("nan"), "auc": auc}


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval of a few values (e.g. one score per seed).

    Args:
        values: the values (``nan`` entries are dropped).
        confidence: the interval's coverage.

    Returns:
        ``(mean, low, high)``; the interval is ``(mean, mean)`` for a single value and all ``nan`` for none.
    """
    v = np.asarray([x for x in values if not math.isnan(float(x))], dtype=np.float64)
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    m = float(v.mean())
    if v.size == 1:
        return m, m, m
    half = float(stats.t.ppf(0.5 + confidence / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return m, m - half, m + half
