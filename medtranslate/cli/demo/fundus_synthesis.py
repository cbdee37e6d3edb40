"""The demo's fundus_synthesis step (bundles/fundus_synthesis, seed 004 in miniature): VAE, pix2pix, EDSR x2."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from medtranslate.cli.bundle_runner import run_bundle_config
from medtranslate.cli.demo.core import DemoContext
from medtranslate.data.samples import write_sample_dataset
from medtranslate.errors import ConfigError

__all__ = ["fundus_synthesis_stage_overrides"]

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


def fundus_synthesis_stage_overrides(datalist: Path, quick: bool) -> dict[str, dict[str, Any]]:
    """The demo's overrides of each stage's ``train_<stage>.json`` (also what benchmarks/learning.py measures): a few
    minutes of CPU in all, a pipeline check at 48 -> 96 pixels, not the paper's model.

    Args:
        datalist: the sample ``fundus`` datalist (images twice the generator size).
        quick: the ``--quick`` budget (a fifth of the epochs).

    Returns:
        stage (``"vae"``, ``"pix2pix"``, ``"edsr"``) -> config id -> value (``output_dir`` left to the caller).
    """
    common = {**_FUNDUS_NET, "dataset_dir": str(Path(datalist).parent), "datalist": str(datalist), "device": "cpu"}
    epochs = (lambda n: max(1, n // 5)) if quick else (lambda n: n)
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
        "edsr": {"max_epochs": epochs(250), "patches_per_image": 4, "batch_size": 8, "hr_patch": 48, "lr": 3e-4},
    }
    return {stage: {**common, **extra} for stage, extra in stages.items()}


def _fundus_synthesis(ctx: DemoContext) -> dict[str, Any]:
    """Seed 004 in miniature (bundles/fundus_synthesis): train the VAE, pix2pix and EDSR x2 briefly; synthesise."""
    bundle = Path(__file__).resolve().parents[3] / "bundles" / "fundus_synthesis"
    if not bundle.is_dir():
        raise ConfigError(
            bundle, "the fundus_synthesis bundle is not installed beside the package (use a source checkout)"
        )
    out = ctx.output / "fundus_synthesis"
    size = _FUNDUS_NET["image_size"][0]
    n_images = 6 if ctx.quick else 10
    datalist = write_sample_dataset(out / "data", "fundus", n=n_images, seed=ctx.seed, shape=(2 * size, 2 * size))
    net = dict(_FUNDUS_NET)
    stages = fundus_synthesis_stage_overrides(datalist, ctx.quick)
    train_dir = out / "train"  # each stage writes train/<stage>/checkpoints: the EDSR one is train/edsr/checkpoints
    summary: dict[str, Any] = {"images": n_images, "network": net, "train_seconds": {}}
    for stage, extra in stages.items():
        start = time.perf_counter()
        overrides = {**extra, "output_dir": str(train_dir), "checkpoint_interval": 10_000}
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
