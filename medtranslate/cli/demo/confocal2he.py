"""The demo's confocal2he step (bundles/confocal2he, seed 001 in small): despeckling, Gareau stain, CycleGAN."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from medtranslate.cli.bundle_runner import run_bundle_config
from medtranslate.cli.demo.core import DemoContext
from medtranslate.data.samples.skin import write_he_slide, write_histology_dataset, write_skin_slide_pair
from medtranslate.data.slide_patches import write_patch_datalist
from medtranslate.errors import ConfigError
from medtranslate.io.slide import SlideReader
from medtranslate.metrics.panels import save_panels
from medtranslate.networks import DespeckleNet
from medtranslate.workflows import load_checkpoint_network

__all__ = ["DESPECKLE_LOOKS", "despeckle_train_overrides"]

#: The demo's despeckling net: 32 filters instead of the seed's 64, its 7 layers.
_DESPECKLE_NET: dict[str, Any] = {"despeckle_channels": 32, "despeckle_layers": 7}
#: Speckle strength (equivalent number of looks) of the demo's despeckling data.
DESPECKLE_LOOKS = 4.0


def despeckle_train_overrides(datalist: Path, output_dir: Path, quick: bool) -> dict[str, Any]:
    """The demo's bundles/confocal2he train_despeckle.json overrides (also what benchmarks/learning.py measures):
    the small net on 64 x 64 patches of the sample histology, speckled with :data:`DESPECKLE_LOOKS` looks, lr 1e-3,
    bf16, time-boxed (15 s quick, 60 s full).

    Args:
        datalist: the sample histology datalist (``write_histology_dataset``).
        output_dir: the training output folder.
        quick: the ``--quick`` budget.

    Returns:
        config id -> value.
    """
    return {
        **_DESPECKLE_NET,
        "datalist": str(datalist),
        "dataset_dir": str(Path(datalist).parent),
        "output_dir": str(output_dir),
        "device": "cpu",
        "amp": "bf16",
        "max_epochs": 10_000,
        "time_limit_s": 15 if quick else 60,
        "patch_size": [64, 64],
        "speckle_looks": DESPECKLE_LOOKS,
        "lr": 1e-3,
        "checkpoint_interval": 0,
        "loss_plot_interval": 20,
    }


def _confocal2he(ctx: DemoContext) -> dict[str, Any]:
    """confocal2he (seed 001) in small: despeckling net, Gareau stain, tiny staining CycleGAN, whole-slide staining."""
    bundle = Path(__file__).resolve().parents[3] / "bundles" / "confocal2he"
    if not bundle.is_dir():
        raise ConfigError(bundle, "the confocal2he bundle is not installed beside the package (use a source checkout)")
    out, q = ctx.output / "confocal2he", ctx.quick
    data = out / "data"
    # 1. despeckling net (32 filters instead of the seed's 64) on inverted gray H&E-like histology, time-boxed
    datalist = write_histology_dataset(data / "despeckle", n=12 if q else 30, shape=(128, 128) if q else (192, 192))
    looks = DESPECKLE_LOOKS
    ds_train = out / "despeckle_train"
    run_bundle_config(bundle, "train_despeckle.json", despeckle_train_overrides(datalist, ds_train, q))
    ds_ckpt = ds_train / "checkpoints"
    ctx.add_output("confocal2he despeckling net (checkpoint, loss.png)", ds_train)
    ev_over = {"datalist": str(datalist), "checkpoint": str(ds_ckpt), "output_dir": str(out / "despeckle_eval")}
    ev_over |= {**_DESPECKLE_NET, "speckle_looks": looks, "device": "cpu"}
    ev = run_bundle_config(bundle, "evaluate.json", ev_over, result_id="evaluator")
    scores = ev.results["despeckling"]
    row = {m: round(scores[f"PSNR {m}"]["value"], 2) for m in ("noisy", "median 3x3 only", "despeckled + median 3x3")}
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
        **_DESPECKLE_NET,
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
        "despeckle_ssim": {m: round(scores[f"SSIM {m}"]["value"], 3) for m in row},
        "despeckle_checkpoints": str(ds_ckpt),
        "stain_checkpoints": str(cg_train / "checkpoints"),
        "slides": {k: str(v) for k, v in slides.items()},
        "figure": str(figure),
    }
