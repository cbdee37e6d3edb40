"""The demo's OCT2Confocal steps (bundles/oct2confocal): register each flat-mount to its eye's OCT, train a small 3D
CycleGAN with a paired term on those pairs, translate, score, evaluate.

:func:`oct2confocal_register` and :func:`oct2confocal_train_overrides` hold the demo's registration and training
settings (also what benchmarks/learning.py measures).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from medtranslate.cli.bundle_runner import run_bundle_config
from medtranslate.cli.demo.core import (
    DEMO_ITERATIONS,
    DEMO_TIME_LIMIT_S,
    FULL,
    QUICK,
    DemoContext,
    _oct_depth_range,
    _rel,
    oct_depth_range,
)
from medtranslate.cli.demo.training import _demo_amp, _demo_schedule, _trained_iterations
from medtranslate.data.datalist import load_datalist
from medtranslate.errors import ConfigError
from medtranslate.io import load_image
from medtranslate.metrics.projection import en_face_projection
from medtranslate.metrics.structure import stack_vessel_dice, vessel_dice
from medtranslate.workflows.registration import RegistrationResult, describe_pair

__all__ = ["OCT2CONFOCAL_TRAIN_CONFIGS", "oct2confocal_register", "oct2confocal_train_overrides"]

#: The configs the demo trains with, merged in order (benchmarks/learning.py's default for this task).
OCT2CONFOCAL_TRAIN_CONFIGS = ("train.json", "train_paired.json")

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


#: The demo's semi-supervised recipe (``train_paired.json`` over the registered flat-mounts), from
#: benchmarks/learning.py runs (docs/training.md): crops at the sample's own scale (``load_size`` = its in-plane size,
#: so training sees the scale inference sees), no zoom, a strong paired L1 term in the OCT -> confocal direction.
_OCT2CONFOCAL_PAIRED: dict[str, Any] = {"lambda_paired": 300.0, "lr": 5e-4, "zoom": [1.0, 1.0]}


def oct2confocal_register(datalist: Path, output_dir: Path, quick: bool) -> RegistrationResult:
    """Register each training flat-mount to its eye's OCT (bundles/oct2confocal/configs/register.json).

    Args:
        datalist: the sample oct_confocal datalist (its OCT items name their flat-mount as ``counterpart``).
        output_dir: where the registered stacks, overlays, ``registration.json`` and the new datalist go.
        quick: the ``--quick`` sample size.

    Returns:
        The registration's result: ``datalist`` (with the registered ``pairs``) and one report row per pair.
    """
    overrides = {"datalist": str(datalist), "output_dir": str(output_dir), "depth_range": oct_depth_range(quick)}
    return run_bundle_config(_oct2confocal_bundle(), "register.json", overrides, result_id="registration")


def oct2confocal_train_overrides(
    datalist: Path, output_dir: Path, quick: bool, iterations: int, amp: str, registered: Path | None = None
) -> dict[str, Any]:
    """The demo's bundles/oct2confocal train.json overrides (also what benchmarks/learning.py measures).

    lr 1e-4 instead of the paper's 2e-5 so that minutes show learning, half of the run at a constant rate and half
    decaying (2e-4 and 1e-3 oscillated between painting the vessels and their edges red: vessel Dice 0.310 and 0.199
    after 900 iterations against 0.454 at 1e-4, peaking at 0.469; identity 0.011; benchmarks/learning.py-style runs);
    no identity and no gradient loss: both compare the output's brightness or edges with the OCT's, where vessels are
    dark shadows while confocal vessels are bright, so they hold the translation back from the truth.

    With ``registered`` (the datalist :func:`oct2confocal_register` wrote), the overrides are those of
    ``train.json`` + ``train_paired.json``: the same networks and schedule, plus :data:`_OCT2CONFOCAL_PAIRED`.

    Args:
        datalist: the sample oct_confocal datalist.
        output_dir: the training output folder.
        quick: the ``--quick`` sample size.
        iterations: training iterations wanted (rounded up to whole epochs; batch 1, one per training OCT).
        amp: ``"bf16"`` or ``"none"``.
        registered: the datalist of registered pairs, for the paired recipe; None: the unpaired CycleGAN.

    Returns:
        config id -> value.
    """
    crop = 24 if quick else 48
    n_train = len(load_datalist(datalist)["training"]["domain_a"])
    epochs = max(2, -(-iterations // n_train))
    paired = {}
    if registered is not None:
        native = (QUICK if quick else FULL)["oct_confocal"][1][-1]
        paired = {**_OCT2CONFOCAL_PAIRED, "datalist": str(registered), "load_size": native}
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
        **_demo_schedule(epochs),
        **paired,
    }


def _oct2confocal_bundle() -> Path:
    bundle = Path(__file__).resolve().parents[3] / "bundles" / "oct2confocal"
    if not bundle.is_dir():
        raise ConfigError(bundle, "the oct2confocal bundle is not installed beside the package (use a source checkout)")
    return bundle


def _oct2confocal_train(ctx: DemoContext) -> dict[str, Any]:
    """Register the training flat-mounts to their eyes (register.json), then train a small OCT2Confocal 3D CycleGAN
    with a paired term on them (train.json + train_paired.json)."""
    datalist = Path(ctx.state["datasets"]["oct_confocal"])
    out = ctx.output / "oct2confocal" / "train"
    registered_dir = ctx.output / "oct2confocal" / "registered"
    registration = oct2confocal_register(datalist, registered_dir, ctx.quick)  # strict: every pair registered
    rows = registration.items
    for row in rows:
        ctx.echo(f"      {describe_pair(row)}")
    ctx.add_output("oct2confocal registered flat-mounts (stacks, overlay PNGs, registration.json)", registered_dir)
    iterations = DEMO_ITERATIONS["oct2confocal"][0 if ctx.quick else 1]
    overrides = oct2confocal_train_overrides(datalist, out, ctx.quick, iterations, _demo_amp(), registration.datalist)
    overrides["time_limit_s"] = None if ctx.quick else DEMO_TIME_LIMIT_S["oct2confocal"]
    amp, epochs, crop = overrides["amp"], overrides["max_epochs"], overrides["crop_size"]
    n_train = len(rows)
    ctx.echo(f"      {epochs * n_train} iterations, amp={amp} ({'bfloat16 autocast' if amp == 'bf16' else 'float32'})")
    run_bundle_config(_oct2confocal_bundle(), list(OCT2CONFOCAL_TRAIN_CONFIGS), overrides)
    ctx.add_output("oct2confocal training (checkpoints, loss.png, samples)", out)
    return {
        "used": (
            "training in the demo (no shipped weights): the flat-mounts registered to their eyes' OCT "
            "(register.json), then the CycleGAN with a paired L1 term, OCT -> confocal (train_paired.json)"
        ),
        "registration": [
            {k: row[k] for k in ("a", "b", "angle_deg", "scale", "mirrored", "correlation_before", "correlation_after")}
            for row in rows
        ],
        "iterations": _trained_iterations(out / "checkpoints"),
        "iterations_planned": epochs * n_train,
        "epochs": epochs,
        "amp": amp,
        "patch": [9, crop, crop],
        "depth_range": _oct_depth_range(ctx),
        **{k: overrides[k] for k in ("lambda_paired", "lr", "load_size")},
        **_OCT2CONFOCAL_TINY,
        "checkpoints": str(out / "checkpoints"),
    }


def _oct_plane(ctx: DemoContext) -> int:
    """In-plane window for the sample stacks: the whole plane, so windows slide along depth only (fewest windows)."""
    return (QUICK if ctx.quick else FULL)["oct_confocal"][1][-1]


def _oct2confocal_model(ctx: DemoContext, checkpoints: Path) -> dict[str, Any]:
    """The inference.json / evaluate.json keys that run a tiny demo model: its network, its checkpoints, float32 on
    the CPU, whole-plane windows over the trained depth slab."""
    return {
        **_OCT2CONFOCAL_TINY,
        "checkpoint": str(checkpoints),
        "device": "cpu",
        "amp": "none",
        "window_size": _oct_plane(ctx),
        "depth_range": _oct_depth_range(ctx),
    }


def _oct2confocal_translate(ctx: DemoContext) -> dict[str, Any]:
    """Translate every sample OCT stack, whole, with bundles/oct2confocal/configs/inference.json."""
    src = ctx.output / "samples" / "oct_confocal" / "oct"
    out = ctx.output / "oct2confocal" / "translated"
    overrides = {
        **_oct2confocal_model(ctx, ctx.output / "oct2confocal" / "train" / "checkpoints"),
        "input_path": str(src),
        "output_dir": str(out),
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
    out = ctx.output / "oct2confocal" / "evaluation"
    overrides = {
        **_oct2confocal_model(ctx, ctx.output / "oct2confocal" / "train" / "checkpoints"),
        "datalist": str(ctx.state["datasets"]["oct_confocal"]),
        "output_dir": str(out),
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
