"""The demo's conversion steps: NIfTI to DICOM, DICOM back to NIfTI with a round-trip check, confocal TIFF to NIfTI.

Through :func:`medtranslate.io.batch.convert_tree`, as ``medtranslate convert`` does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from medtranslate.cli.demo.core import DemoContext, _rel
from medtranslate.io import load_image
from medtranslate.io.batch import convert_tree

_AFFINE_TOL_MM = 1e-3


def _convert(ctx: DemoContext, src: Path, dst: Path, to: str, report: Path) -> Any:
    result = convert_tree(src, dst, to, jobs=ctx.jobs, overwrite=True, report=report, progress=False)
    ctx.failed += result.n_failed
    return result


def _batch_summary(result: Any, report: Path) -> dict[str, Any]:
    return {
        "converted": result.n_converted,
        "skipped": result.n_skipped,
        "failed": [{"input": i.input, "reason": i.reason} for i in result.failed],
        "report": str(report),
        "outputs": [{"input": i.input, "output": i.output} for i in result.items if i.status != "failed"],
    }


def _nifti_to_dicom(ctx: DemoContext) -> dict[str, Any]:
    samples = ctx.output / "samples"
    summary, sources = {}, {}
    for name, src in (("ct_mr", samples / "ct_mr"), ("oct", samples / "oct_confocal" / "oct")):
        dst = ctx.output / "dicom" / name
        report = ctx.output / "reports" / f"nifti_to_dicom_{name}.json"
        result = _convert(ctx, src, dst, "dicom", report)
        summary[name] = _batch_summary(result, report)
        sources.update({os.path.abspath(i.output): i.input for i in result.items if i.status != "failed"})
        ctx.add_output(f"DICOM series from NIfTI ({name})", dst)
    ctx.state["dicom_sources"] = sources  # DICOM folder -> the NIfTI it came from
    return summary


def _compare(original: str, roundtrip: str) -> dict[str, Any]:
    a, b = load_image(original), load_image(roundtrip)
    out: dict[str, Any] = {"original": original, "roundtrip": roundtrip, "shape": list(a.shape)}
    aff = np.abs(np.asarray(a.meta["affine"], float) - np.asarray(b.meta["affine"], float)).max()
    out["affine_max_diff_mm"] = float(aff)
    if tuple(a.shape) != tuple(b.shape):
        out.update(ok=False, problem=f"shape {tuple(a.shape)} came back as {tuple(b.shape)}")
        return out
    diff = float(np.abs(a.numpy().astype(np.float64) - b.numpy().astype(np.float64)).max())
    out["max_abs_diff"] = diff
    out["ok"] = bool(diff == 0.0 and aff <= _AFFINE_TOL_MM)
    if not out["ok"]:
        out["problem"] = f"values differ by up to {diff:g}, affine by up to {aff:g} mm"
    return out


def _dicom_to_nifti(ctx: DemoContext) -> dict[str, Any]:
    src, dst = ctx.output / "dicom", ctx.output / "nifti_from_dicom"
    report = ctx.output / "reports" / "dicom_to_nifti.json"
    result = _convert(ctx, src, dst, "nifti", report)
    summary = _batch_summary(result, report)
    sources = ctx.state.get("dicom_sources", {})
    checks = []
    done = [(sources.get(os.path.abspath(i.input)), i.output) for i in result.items if i.status != "failed"]
    for origin, output in sorted((o, out) for o, out in done if o is not None):
        check = _compare(origin, output)
        ctx.failed += 0 if check["ok"] else 1
        checks.append(check)
        verdict = "identical values and geometry" if check["ok"] else f"MISMATCH: {check['problem']}"
        ctx.echo(f"      {_rel(origin, ctx.output)} -> {_rel(output, ctx.output)}: {verdict}")
    summary["roundtrip"] = checks
    summary["roundtrip_exact"] = sum(c["ok"] for c in checks)
    ctx.add_output("NIfTI from the DICOM series (round trip)", dst)
    return summary


def _tiff_to_nifti(ctx: DemoContext) -> dict[str, Any]:
    src, dst = ctx.output / "samples" / "oct_confocal" / "confocal", ctx.output / "nifti_from_tiff"
    report = ctx.output / "reports" / "tiff_to_nifti.json"
    result = _convert(ctx, src, dst, "nifti", report)
    ctx.add_output("NIfTI from the confocal TIFF stacks", dst)
    return _batch_summary(result, report)
