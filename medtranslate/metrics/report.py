"""Evaluation reports: one JSON file (machine-readable) and one Markdown table (for people), written atomically."""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from medtranslate import __version__
from medtranslate.errors import ConfigError
from medtranslate.utils.atomic import atomic_path

__all__ = ["write_report", "to_jsonable", "flatten_results"]


def to_jsonable(obj: Any) -> Any:
    """Convert tensors, numpy values, tuples and paths into JSON types; NaN becomes ``null``, infinities ``"inf"``.

    Args:
        obj: any nesting of mappings, sequences, numbers, strings, numpy arrays or torch tensors.
    """
    if hasattr(obj, "detach") and hasattr(obj, "cpu"):  # a torch tensor, without importing torch
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, np.ndarray):
        obj = obj.item() if obj.ndim == 0 else obj.tolist()
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, float):
        if math.isnan(obj):
            return None
        if math.isinf(obj):
            return "inf" if obj > 0 else "-inf"
        return obj
    if isinstance(obj, (bool, int, str)) or obj is None:
        return obj
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return str(obj)


def _is_entry(v: Any) -> bool:
    return not isinstance(v, Mapping) or "value" in v


def flatten_results(results: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str, Any]]:
    """List ``(set, metric, entry)`` rows: a mapping with a ``"value"`` key (or a bare value) is a metric entry, any
    other mapping is a group of entries (for example "W Ref" / "W/O Ref" / "Total", as in the paper's Table 2).

    Args:
        results: the results mapping.
        prefix: group path of ``results`` itself.
    """
    rows: list[tuple[str, str, Any]] = []
    for key, value in results.items():
        if _is_entry(value):
            rows.append((prefix, str(key), value))
        else:
            rows.extend(flatten_results(value, f"{prefix} / {key}" if prefix else str(key)))
    return rows


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "n/a"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if v != 0 and abs(v) < 1e-3:
            return f"{v:.3e}"
        return f"{v:.4f}"
    return str(v).replace("|", "\\|").replace("\n", " ")


def _network_label(net: Mapping[str, Any]) -> str:
    return f"Inception {net.get('dims', '?')}-d, sha256 {str(net.get('sha256', ''))[:12]}"


def _markdown(results: Mapping[str, Any], title: str, meta: Mapping[str, Any]) -> str:
    rows = flatten_results(results)
    grouped = any(group for group, _, _ in rows)
    head = (["set"] if grouped else []) + ["metric", "value", "std", "n", "units", "feature network"]
    lines = [f"# {title}", "", f"medtranslate {meta['medtranslate_version']}, {meta['created_utc']}", ""]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    networks: dict[str, Mapping[str, Any]] = {}
    for group, metric, entry in rows:
        e = entry if isinstance(entry, Mapping) else {"value": entry}
        n = e.get("n")
        if n is None and "n_generated" in e:
            n = f"{e['n_generated']} gen / {e.get('n_real', '?')} real"
        net = e.get("feature_network")
        label = ""
        if isinstance(net, Mapping):
            label = _network_label(net)
            networks[label] = net
        cells = ([_fmt(group)] if grouped else []) + [
            _fmt(metric),
            _fmt(e.get("value")),
            _fmt(e.get("std")) if "std" in e else "",
            _fmt(n) if n is not None else "",
            _fmt(e.get("units", "")),
            label,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if networks:
        lines += ["", "## Feature networks", ""]
        for label, net in networks.items():
            lines.append(
                f"- **{label}**: {_fmt(net.get('name', ''))}; features: {_fmt(net.get('layer', ''))}; "
                f"file `{net.get('path', '')}`; sha256 `{net.get('sha256', '')}`"
            )
    return "\n".join(lines) + "\n"


def write_report(
    results: Mapping[str, Any], out_dir: str | os.PathLike, name: str = "metrics", title: str = "Evaluation"
) -> tuple[Path, Path]:
    """Write ``<out_dir>/<name>.json`` and ``<out_dir>/<name>.md``, each through a temporary file and a rename.

    The JSON holds ``{"report": {version, time, title}, "results": results}`` with NaN as ``null``; the Markdown holds
    one table row per metric entry (see :func:`flatten_results`) and a list of the feature networks used.

    Args:
        results: metric entries, for example from :func:`medtranslate.metrics.fid_kid` and
            :func:`medtranslate.metrics.paired_metrics`, optionally grouped in nested mappings.
        out_dir: destination folder (created when missing).
        name: file name stem.
        title: Markdown title.

    Returns:
        (json_path, md_path).

    Raises:
        ConfigError: when ``results`` is not a mapping or is empty.
        OutputError: when the folder cannot be written.
    """
    if not isinstance(results, Mapping) or not results:
        raise ConfigError(None, "write_report needs a non-empty mapping of metric results")
    out = Path(out_dir)
    meta = {
        "title": title,
        "medtranslate_version": __version__,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
    }
    clean = to_jsonable(results)
    json_path, md_path = out / f"{name}.json", out / f"{name}.md"
    with atomic_path(json_path) as tmp:
        tmp.write_text(json.dumps({"report": meta, "results": clean}, indent=2, allow_nan=False) + "\n")
    with atomic_path(md_path) as tmp:
        tmp.write_text(_markdown(clean, title, meta))
    return json_path, md_path
