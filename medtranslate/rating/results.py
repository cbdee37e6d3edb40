"""Results of a rating study: Mean Opinion Score per model (seed 000, Table 2), rater agreement, reports.

Scores are on seed 000's 1-100 scale, higher is better. A slider gives the score directly; a ranking of ``n`` images
gives the first (best) 100, the last 1 and evenly spaced scores in between (``1 + 99 (n - 1 - p) / (n - 1)`` for the
0-based position ``p``). For each model and each category (``reference`` sets, ``blind`` sets, ``total``):

- each rater's mean score of the model over the sets of that category they rated;
- MOS = the mean of those rater means (every rater weighs the same), with a 95 % confidence interval
  ``t(0.975, n - 1) * sd / sqrt(n)`` over the ``n`` raters (none for a single rater).

Agreement: Kendall's W (with the tie correction) of the raters' rankings of each set, its chi-square p-value, and the
mean W over the sets of each category; and per rater, Spearman's rho between their scores and the mean scores of the
other raters on the same images (leave-one-out), drawn in ``agreement.png``.
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy import stats

from medtranslate.errors import InputError
from medtranslate.metrics.report import flatten_results
from medtranslate.rating.study import Study
from medtranslate.utils.atomic import atomic_path

__all__ = [
    "compute_results",
    "results_from_ratings",
    "kendall_w",
    "mean_ci",
    "load_metric_report",
    "results_markdown",
    "write_results",
    "CATEGORIES",
]

#: Result categories, as seed 000's Table 2 columns: with reference, without reference, total.
CATEGORIES = ("reference", "blind", "total")
_TITLES = {"reference": "W Ref", "blind": "W/O Ref", "total": "Total"}
_GROUP_ALIASES = {
    "reference": {"reference", "w ref", "with reference", "w_ref", "wref"},
    "blind": {"blind", "w/o ref", "without reference", "wo ref", "w_o_ref", "no reference"},
    "total": {"total", "", "all"},
}


def mean_ci(values: Sequence[float]) -> dict[str, Any]:
    """Mean and 95 % t confidence interval of independent values.

    Args:
        values: the values (one per rater).

    Returns:
        ``{"mean", "ci95" (half width), "ci_low", "ci_high", "n"}``; the interval is ``None`` for fewer than 2 values,
        everything but ``n`` is ``None`` for none.
    """
    v = np.asarray(values, dtype=np.float64)
    n = int(v.size)
    if n == 0:
        return {"mean": None, "ci95": None, "ci_low": None, "ci_high": None, "n": 0}
    mean = float(v.mean())
    if n < 2:
        return {"mean": mean, "ci95": None, "ci_low": None, "ci_high": None, "n": n}
    half = float(stats.t.ppf(0.975, n - 1) * v.std(ddof=1) / math.sqrt(n))
    return {"mean": mean, "ci95": half, "ci_low": mean - half, "ci_high": mean + half, "n": n}


def kendall_w(scores: np.ndarray) -> dict[str, Any]:
    """Kendall's coefficient of concordance of ``m`` raters over ``n`` items, with the correction for ties.

    Args:
        scores: ``(m raters, n items)``, higher is better.

    Returns:
        ``{"w", "chi2", "p", "m", "n"}``; ``w`` is ``None`` when it is undefined (fewer than 2 raters or items, or
        every rater tied every item).
    """
    s = np.asarray(scores, dtype=np.float64)
    m, n = s.shape
    out: dict[str, Any] = {"w": None, "chi2": None, "p": None, "m": int(m), "n": int(n)}
    if m < 2 or n < 2:
        return out
    ranks = np.vstack([stats.rankdata(-row) for row in s])  # 1 = best, ties share the mean rank
    totals = ranks.sum(axis=0)
    big_s = float(((totals - totals.mean()) ** 2).sum())
    ties = 0.0
    for row in s:
        _, counts = np.unique(row, return_counts=True)
        ties += float((counts**3 - counts).sum())
    denom = m**2 * (n**3 - n) - m * ties
    if denom <= 0:
        return out
    w = 12.0 * big_s / denom
    chi2 = m * (n - 1) * w
    out.update(w=w, chi2=chi2, p=float(stats.chi2.sf(chi2, n - 1)))
    return out


def _spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(stats.spearmanr(a, b).statistic)


def results_from_ratings(
    ratings: Sequence[Mapping[str, Any]],
    set_kinds: Mapping[str, str],
    models: Sequence[str],
    raters: Sequence[str] | None = None,
) -> dict[str, Any]:
    """MOS per model and category, rater agreement and progress, from plain rating rows.

    Args:
        ratings: rows ``{"rater", "set", "model", "score", "method"}``.
        set_kinds: set name -> ``"reference"`` or ``"blind"`` (every set of the study).
        models: the model names.
        raters: every rater's name (raters without a rating still appear in the progress table).

    Returns:
        ``{"mos": {model: {category: mean_ci}}, "kendall_w": {category: {...}}, "raters": [...], ...}``.
    """
    by_key: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)  # (rater, set) -> model -> score
    methods: dict[tuple[str, str], str] = {}
    for r in ratings:
        by_key[(r["rater"], r["set"])][r["model"]] = float(r["score"])
        methods[(r["rater"], r["set"])] = r["method"]
    names = list(raters) if raters is not None else []
    names += sorted({k[0] for k in by_key} - set(names))
    cats = {c: [s for s, k in set_kinds.items() if c == "total" or k == c] for c in CATEGORIES}

    mos: dict[str, dict[str, Any]] = {}
    for model in models:
        mos[model] = {}
        for cat, sets in cats.items():
            per_rater = []
            for name in names:
                mine = [by_key[(name, s)][model] for s in sets if model in by_key.get((name, s), {})]
                if mine:
                    per_rater.append(float(np.mean(mine)))
            mos[model][cat] = mean_ci(per_rater)

    agreement: dict[str, Any] = {}
    for cat, sets in cats.items():
        rows = []
        for s in sets:
            raters_s = [n for n in names if (n, s) in by_key and len(by_key[(n, s)]) == len(models)]
            matrix = np.array([[by_key[(n, s)][m] for m in models] for n in raters_s], dtype=np.float64)
            matrix = matrix.reshape(len(raters_s), len(models))
            rows.append({"set": s, **kendall_w(matrix)})
        ws = [r["w"] for r in rows if r["w"] is not None]
        agreement[cat] = {"mean_w": float(np.mean(ws)) if ws else None, "n_sets": len(ws), "sets": rows}

    rater_rows = []
    for name in names:
        mine, others = [], []
        for (rn, s), scores in by_key.items():
            if rn != name:
                continue
            for model, score in scores.items():
                rest = [by_key[(o, s)][model] for o in names if o != name and model in by_key.get((o, s), {})]
                if rest:
                    mine.append(score)
                    others.append(float(np.mean(rest)))
        done = [s for s in set_kinds if (name, s) in by_key]
        used = [methods[(name, s)] for s in done]
        rater_rows.append(
            {
                "name": name,
                "sets_done": len(done),
                "n_sets": len(set_kinds),
                "methods": {m: used.count(m) for m in ("rank", "slider")},
                "spearman_vs_others": _spearman(mine, others),
            }
        )
    return {
        "models": list(models),
        "n_sets": {c: len(cats[c]) for c in CATEGORIES},
        "n_raters": len(names),
        "mos": mos,
        "kendall_w": agreement,
        "raters": rater_rows,
    }


def compute_results(study: Study, metric_reports: Mapping[str, str | os.PathLike] | None = None) -> dict[str, Any]:
    """The unblinded results of a study (see the module docstring for what each number means).

    Args:
        study: the opened study.
        metric_reports: optional model name -> ``evaluate`` report (``metrics.json``) to put FID / KID beside MOS.

    Returns:
        A JSON-ready dict (``study``, ``scale``, ``models``, ``mos``, ``kendall_w``, ``raters``, ``metrics``).

    Raises:
        InputError: for a metric report that cannot be read, or names a model the study does not have.
    """
    kinds = {s.name: s.kind for s in study.sets}
    raters = [r.name for r in study.store.raters()]
    out = {
        "study": study.spec.get("name"),
        "scale": "MOS 1-100, higher is better; ranks map to 100 (best) .. 1 (worst)",
        **results_from_ratings(study.store.all_ratings(), kinds, study.models, raters),
    }
    out["metrics"] = {}
    for model, path in (metric_reports or {}).items():
        if model not in study.models:
            raise InputError(
                path, f"is given for model {model!r}, which the study does not have ({', '.join(study.models)})"
            )
        out["metrics"][model] = load_metric_report(path)
    return out


def load_metric_report(path: str | os.PathLike) -> dict[str, dict[str, float]]:
    """Read an ``evaluate`` report and sort its values into the result categories.

    Groups named like seed 000's columns ("W Ref", "W/O Ref", "Total", or "reference", "blind") map to the rating
    categories; values outside any group count as "total"; other groups are kept under their own name.

    Args:
        path: the report's ``metrics.json``.

    Returns:
        category -> metric -> value.

    Raises:
        InputError: when the file cannot be read or is not JSON.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(path, f"cannot be read as an evaluate report ({getattr(e, 'strerror', None) or e})") from e
    results = data.get("results", data) if isinstance(data, Mapping) else None
    if not isinstance(results, Mapping):
        raise InputError(path, "is not an evaluate report (no results object)")
    out: dict[str, dict[str, float]] = {}
    for group, metric, entry in flatten_results(results):
        value = entry.get("value") if isinstance(entry, Mapping) else entry
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        key = next((c for c, names in _GROUP_ALIASES.items() if group.strip().lower() in names), group)
        out.setdefault(key, {})[metric] = float(value)
    return out


def _num(v: Any, digits: int = 3) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def results_markdown(results: Mapping[str, Any]) -> str:
    """The results as Markdown: a Table 2 style table, agreement, and each rater's progress.

    Args:
        results: from :func:`compute_results`.
    """
    n_sets = results["n_sets"]
    metric_names = sorted({m for rep in results.get("metrics", {}).values() for g in rep.values() for m in g})
    lines = [f"# Rating results: {results.get('study') or 'study'}", ""]
    lines.append(
        f"{results['n_raters']} rater(s); {n_sets['reference']} reference set(s) (W Ref), {n_sets['blind']} blind "
        f"set(s) (W/O Ref). {results['scale']}. MOS: mean of the raters' means, ± the 95 % t interval over raters."
    )
    lines += ["", "## Mean Opinion Score", ""]
    head = ["model"]
    for cat in CATEGORIES:
        head += [f"{_TITLES[cat]} {m}" for m in metric_names] + [f"{_TITLES[cat]} MOS", f"{_TITLES[cat]} raters"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for model in results["models"]:
        row = [model]
        metrics = results.get("metrics", {}).get(model, {})
        for cat in CATEGORIES:
            row += [_num(metrics.get(cat, {}).get(m)) for m in metric_names]
            e = results["mos"][model][cat]
            mos = _num(e["mean"]) + ("" if e["ci95"] is None else f" ± {_num(e['ci95'])}")
            row += [mos, str(e["n"])]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "## Agreement (Kendall's W over the raters' rankings of each set)", ""]
    lines += ["| sets | mean W | sets with 2+ raters |", "|---|---|---|"]
    for cat in CATEGORIES:
        a = results["kendall_w"][cat]
        lines.append(f"| {_TITLES[cat]} | {_num(a['mean_w'])} | {a['n_sets']} |")
    lines += ["", "| set | W | raters | p (chi-square) |", "|---|---|---|---|"]
    for r in results["kendall_w"]["total"]["sets"]:
        lines.append(f"| {r['set']} | {_num(r['w'])} | {r['m']} | {_num(r['p'], 4)} |")
    lines += ["", "## Raters", "", "| rater | sets done | ranked | slider | Spearman rho vs the others |"]
    lines.append("|---|---|---|---|---|")
    for r in results["raters"]:
        lines.append(
            f"| {r['name']} | {r['sets_done']}/{r['n_sets']} | {r['methods']['rank']} | {r['methods']['slider']} | "
            f"{_num(r['spearman_vs_others'])} |"
        )
    return "\n".join(lines) + "\n"


def _agreement_figure(results: Mapping[str, Any], path: Path) -> Path:
    raters = results["raters"]
    names = [r["name"] for r in raters]
    rho = [np.nan if r["spearman_vs_others"] is None else r["spearman_vs_others"] for r in raters]
    fig = Figure(figsize=(max(5.0, 0.6 * len(names) + 2.0), 3.6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(names))
    ax.bar(x, np.nan_to_num(rho), color=["#4a7fb5" if np.isfinite(v) else "#cccccc" for v in rho])
    for xi, v in zip(x, rho):
        ax.text(xi, (v if np.isfinite(v) else 0) + 0.03, "n/a" if not np.isfinite(v) else f"{v:.2f}", ha="center")
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xticks(x, names, rotation=30 if len(names) > 4 else 0, ha="right" if len(names) > 4 else "center")
    ax.set_ylim(-1.05, 1.15)
    ax.set_ylabel("Spearman rho vs the other raters")
    w = results["kendall_w"]["total"]["mean_w"]
    ax.set_title(f"Kendall's W, mean over sets: {_num(w)}", fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def write_results(results: Mapping[str, Any], out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``rating_results.json``, ``rating_results.md`` and ``agreement.png`` (each through a rename).

    Args:
        results: from :func:`compute_results`.
        out_dir: the folder.

    Returns:
        ``{"json", "markdown", "figure"}`` paths.
    """
    out = Path(out_dir)
    paths = {
        "json": out / "rating_results.json",
        "markdown": out / "rating_results.md",
        "figure": out / "agreement.png",
    }
    with atomic_path(paths["json"]) as tmp:
        tmp.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    with atomic_path(paths["markdown"]) as tmp:
        tmp.write_text(results_markdown(results), encoding="utf-8")
    _agreement_figure(results, paths["figure"])
    return paths
