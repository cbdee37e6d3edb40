"""The demo's fundus2oct step (bundles/fundus2oct, seed 002): tiny CycleGAN fundus -> OCT, distillation, figure."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from medtranslate.cli.bundle_runner import run_bundle_config
from medtranslate.cli.demo.core import DemoContext
from medtranslate.data.samples import write_sample_dataset
from medtranslate.engines.distillation import predict_probabilities
from medtranslate.io import load_image
from medtranslate.metrics import save_panel_figure
from medtranslate.transforms import FitToSize
from medtranslate.utils.atomic import atomic_path


def _fundus2oct(ctx: DemoContext) -> dict[str, Any]:
    """Seed 002 on its own synthetic eyes: CycleGAN fundus -> OCT, structure recovery, distillation, realism."""
    bundle = Path(__file__).resolve().parents[3] / "bundles" / "fundus2oct"
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
