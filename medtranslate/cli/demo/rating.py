"""The demo's rating_study step: a blinded rating study of two tiny OCT2Confocal variants (docs/rating.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from medtranslate.cli.bundle_runner import run_bundle_config
from medtranslate.cli.demo.core import DEMO_ITERATIONS, DemoContext
from medtranslate.cli.demo.oct2confocal import _oct2confocal_bundle, _oct2confocal_model, oct2confocal_train_overrides
from medtranslate.cli.demo.training import _demo_amp
from medtranslate.errors import ConfigError
from medtranslate.rating.study import create_study


def _rating_study(ctx: DemoContext) -> dict[str, Any]:
    """A blinded rating study (docs/rating.md) of two variants of the tiny OCT2Confocal model; no server is started.

    Variant ``final``: the oct2confocal_translate step's outputs (the training run's last checkpoint). Variant
    ``early``: the same recipe stopped earlier: the run's oldest checkpoint when it kept several, else a short run with
    the same settings and seed for a quarter of the epochs (an earlier checkpoint of the same trajectory: the learning
    rate is constant over the first half). With ``--quick`` both train briefly: a pipeline check only.
    """
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
            **_oct2confocal_model(ctx, early_ckpt),
            "input_path": str(ctx.output / "samples" / "oct_confocal" / "oct"),
            "output_dir": str(translated["early"]),
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
