"""How fast the demo's models learn the structure their ground truth knows: metric curves, and the iterations and CPU
seconds to reach the targets of issue #10.

For each trainer a bundle uses, this builds the trainer exactly as ``medtranslate demo`` does (``train.json`` with the
demo's configs and overrides: :func:`medtranslate.cli.demo.oct2confocal.oct2confocal_train_overrides`,
:func:`medtranslate.cli.demo.ct2mri.ct2mri_train_overrides`, :func:`medtranslate.cli.demo.confocal2he.
despeckle_train_overrides`, :func:`medtranslate.cli.demo.fundus_synthesis.fundus_synthesis_stage_overrides`) on the
demo's full-size sample data, trains it, and every
``--every`` iterations scores the test items against the ground truth the sample generators wrote:

- ``oct2confocal`` (3D CycleGAN): vessel Dice of the synthetic confocal red channel's en-face mean projection (Otsu)
  against the eye's vessel tree; target >= 0.7. As in the demo, the flat-mounts are first registered to their eyes
  (:func:`medtranslate.cli.demo.oct2confocal.oct2confocal_register`) and ``train_paired.json`` adds the paired term;
  ``--config train.json`` measures the unpaired CycleGAN instead.
- ``ct2mri`` (2D CycleGAN): SSIM of the synthetic MR against the paired MR phantom (target >= 0.75) and cycle SSIM
  CT -> MR -> CT (target >= 0.9).
- ``despeckle`` (confocal2he's despeckling net, supervised): PSNR of the held-out histology, speckled once (seeded),
  in dB over the 3 x 3 median (seed 001's baseline); target > 0.
- ``edsr`` (fundus_synthesis's EDSR x2, supervised): PSNR of the held-out fundus images, box-downscaled as in
  training, in dB over bicubic upsampling; target > 0.

The identity baseline (the input untouched) is printed first. CPU seconds are the process's CPU time spent training
(evaluation excluded); with ``--amp both`` the fp32 and bf16 curves are printed side by side (issue #16: bf16 should
reach the same structure metrics within a stated tolerance). The machine is shared: compare rows of one run.

    .venv/bin/python benchmarks/learning.py [--tasks oct2confocal,ct2mri,despeckle,edsr] [--amp bf16|none|both]
        [--threads 2] [--iterations N] [--every 50] [--seed 0] [--samples N] [--config FILE] [--set KEY=JSON ...]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from ignite.engine import Events
from monai.bundle import ConfigWorkflow
from monai.inferers import sliding_window_inference
from monai.transforms import Compose, MedianSmooth

from medtranslate.cli.demo import DEMO_ITERATIONS, FULL
from medtranslate.cli.demo.confocal2he import DESPECKLE_LOOKS, despeckle_train_overrides
from medtranslate.cli.demo.ct2mri import CT2MRI_TRAIN_CONFIGS, ct2mri_train_overrides
from medtranslate.cli.demo.fundus_synthesis import fundus_synthesis_stage_overrides
from medtranslate.cli.demo.oct2confocal import (
    OCT2CONFOCAL_TRAIN_CONFIGS,
    oct2confocal_register,
    oct2confocal_train_overrides,
)
from medtranslate.data import datalist_split
from medtranslate.data.samples import write_sample_dataset
from medtranslate.data.samples.skin import write_histology_dataset
from medtranslate.io import load_image
from medtranslate.metrics.projection import en_face_projection
from medtranslate.metrics.similarity import psnr
from medtranslate.metrics.structure import foreground_slices, paired_ssim, stack_vessel_dice, vessel_dice
from medtranslate.transforms import HUWindow, PercentileNormalize, RandSpeckle
from medtranslate.transforms.resolution import downscale, upscale_interpolated

BUNDLES = Path(__file__).resolve().parents[1] / "bundles"
TARGETS = {
    "oct2confocal": {"vessel_dice": 0.7},
    "ct2mri": {"ssim_vs_mr": 0.75, "cycle_ssim": 0.9},
    "despeckle": {"psnr_over_median": 0.0},
    "edsr": {"psnr_over_bicubic": 0.0},
}
#: The supervised trainers: task -> (bundle, train config); their network is the config's ``network``.
SUPERVISED = {"despeckle": ("confocal2he", "train_despeckle.json"), "edsr": ("fundus_synthesis", "train_edsr.json")}
#: Iterations of the supervised tasks by default: about what the demo's runs reach (despeckling is time-boxed to
#: 60 s; EDSR runs 250 epochs of 4 batches).
SUPERVISED_ITERATIONS = {"despeckle": 600, "edsr": 1000}


def _oct_scorer(datalist: Path, depth_range: list[int]) -> tuple[dict[str, float], Any]:
    start, stop = depth_range
    items = []
    for item in datalist_split(datalist, "test", "domain_a"):
        oct_slab = load_image(item["image"])[:, start:stop].float()
        items.append((oct_slab / 127.5 - 1.0, load_image(item["ground_truth"])[0] > 0))
    identity = {
        "vessel_dice": sum(vessel_dice(en_face_projection(x[0], axis=0), v) for x, v in items) / len(items),
        "oct_shadow_dice": sum(vessel_dice(en_face_projection(x[0], axis=0), v, invert=True) for x, v in items)
        / len(items),
    }

    def score(networks: dict[str, torch.nn.Module]) -> dict[str, float]:
        g = networks["g_ab"]
        dice = []
        for x, vessels in items:
            roi = (9, *x.shape[-2:])
            y = sliding_window_inference(x[None], roi, 1, g, overlap=0.5, mode="gaussian")[0]
            dice.append(stack_vessel_dice((y + 1) / 2, vessels, depth_axis=0, channel=0))
        return {"vessel_dice": sum(dice) / len(dice)}

    return identity, score


def _ct_scorer(datalist: Path, hu_window: list[int]) -> tuple[dict[str, float], Any]:
    pairs = []
    for pair in datalist_split(datalist, "test", "pairs"):
        ct = torch.as_tensor(HUWindow(hu_window)(load_image(pair["a"]))).float()
        mr = torch.as_tensor(PercentileNormalize(1.0, 99.0)(load_image(pair["b"]))).float()
        pairs.append((ct, mr, foreground_slices(ct, slice_axis=2)))
    identity = {"ssim_vs_mr": sum(paired_ssim(c, m, keep=k) for c, m, k in pairs) / len(pairs), "cycle_ssim": 1.0}

    def slices(g: torch.nn.Module, volume: torch.Tensor) -> torch.Tensor:
        return g(volume.movedim(3, 0)).movedim(0, 3)  # (C, X, Y, Z) -> Z slices of (C, X, Y), back

    def score(networks: dict[str, torch.nn.Module]) -> dict[str, float]:
        s, c = [], []
        for ct, mr, keep in pairs:
            fake = slices(networks["g_ab"], ct)
            s.append(paired_ssim(fake, mr, keep=keep))
            c.append(paired_ssim(slices(networks["g_ba"], fake), ct, keep=keep))
        return {"ssim_vs_mr": sum(s) / len(s), "cycle_ssim": sum(c) / len(c)}

    return identity, score


def _despeckle_scorer(parser: Any, datalist: Path) -> tuple[dict[str, float], Any]:
    """PSNR of the despeckled held-out images against the clean ones, in dB over the 3 x 3 median's (seed 001's
    baseline; the bundle's evaluation reports both); each image speckled once, seeded."""
    load = Compose(parser.get_parsed_content("train#transforms").transforms[:3])  # load, scale to [0, 1], tensor
    speckle = RandSpeckle(looks=DESPECKLE_LOOKS)
    speckle.set_random_state(0)
    items = []
    for item in datalist_split(datalist, "validation", "domain_a"):
        clean = load({"image": item["image"]})["image"].float()
        items.append((clean, speckle(clean).float()))

    median = MedianSmooth(radius=1)  # the 3 x 3 median of the bundle's evaluate.json

    def db(x: torch.Tensor, y: torch.Tensor) -> float:
        return float(psnr(x[None], y[None], spatial_dims=2, data_range=1.0).mean())

    baseline = sum(db(median(n), c) for c, n in items) / len(items)
    noisy = sum(db(n, c) for c, n in items) / len(items)
    identity = {"psnr_over_median": noisy - baseline, "psnr_noisy": noisy, "psnr_median": baseline}

    def score(networks: dict[str, torch.nn.Module]) -> dict[str, float]:
        net = networks["network"]
        value = sum(db(net(n[None])[0].clamp(0, 1), c) for c, n in items) / len(items)
        return {"psnr_over_median": value - baseline, "psnr": value}

    return identity, score


def _edsr_scorer(parser: Any, datalist: Path) -> tuple[dict[str, float], Any]:
    """PSNR of EDSR x2 on the held-out fundus images (box-downscaled as in training) against the originals, in dB over
    bicubic upsampling (the interpolation baseline; the input untouched but for its size)."""
    load = Compose(parser.get_parsed_content("train#preprocessing").transforms[:5])  # load .. resize, tensor
    scale = int(parser.get_parsed_content("scale"))
    items = []
    for item in datalist_split(datalist, "test", "domain_b"):
        hr = load({"image": item["image"]})["image"].float()
        items.append((hr, downscale(hr, scale)))

    def db(x: torch.Tensor, y: torch.Tensor) -> float:
        return float(psnr(x[None].clamp(-1, 1), y[None], spatial_dims=2, data_range=2.0).mean())

    baseline = sum(db(upscale_interpolated(lr, scale), hr) for hr, lr in items) / len(items)
    identity = {"psnr_over_bicubic": 0.0, "psnr_bicubic": baseline}

    def score(networks: dict[str, torch.nn.Module]) -> dict[str, float]:
        value = sum(db(networks["network"](lr[None])[0], hr) for hr, lr in items) / len(items)
        return {"psnr_over_bicubic": value - baseline, "psnr": value}

    return identity, score


def _cyclegan_workflow(
    task: str,
    data: Path,
    seed: int,
    iterations: int,
    amp: str,
    extra: dict[str, Any] | None,
    overlays: list[str] | None,
    samples: int | None,
) -> tuple[ConfigWorkflow, dict[str, float], Any]:
    """The demo's OCT2Confocal or ct2mri training, built from its bundle's configs with the demo's overrides."""
    kind = "oct_confocal" if task == "oct2confocal" else "ct_mr"
    demo_configs = list((CT2MRI_TRAIN_CONFIGS if task == "ct2mri" else OCT2CONFOCAL_TRAIN_CONFIGS)[1:])
    configs = demo_configs if overlays is None else [c for c in overlays if c != "train.json"]
    n, shape = FULL[kind]
    n = samples or n
    datalist = write_sample_dataset(data / kind, kind, n=n, seed=seed, shape=shape)
    out = Path(tempfile.mkdtemp(prefix=f"learning_{task}_"))
    if task == "oct2confocal":
        paired = "train_paired.json" in configs  # the demo's: the flat-mounts registered first
        registered = oct2confocal_register(datalist, data / kind / "registered", False).datalist if paired else None
        overrides = {**oct2confocal_train_overrides(datalist, out, False, iterations, amp, registered), **(extra or {})}
        identity, score = _oct_scorer(datalist, overrides["depth_range"])
    else:
        overrides = {**ct2mri_train_overrides(datalist, out, False, iterations, amp), **(extra or {})}
        identity, score = _ct_scorer(datalist, overrides["hu_window"])
    return _train_workflow(task, ["train.json", *configs], overrides), identity, score


def _train_workflow(bundle: str, configs: list[str], overrides: dict[str, Any]) -> ConfigWorkflow:
    """The bundle's training configs merged in order, with the overrides, no resume and no handlers; initialised."""
    wf = ConfigWorkflow(
        config_file=[str(BUNDLES / bundle / "configs" / c) for c in configs],
        workflow_type=None,
        bundle_root=str(BUNDLES / bundle),
        logging_file=False,
        **{**overrides, "resume_from": None, "train#handlers": []},
    )
    wf.initialize()
    return wf


def _supervised_workflow(
    task: str, data: Path, seed: int, amp: str, extra: dict[str, Any] | None
) -> tuple[ConfigWorkflow, dict[str, float], Any]:
    """The demo's despeckling or EDSR training, built from its bundle's config with the demo's overrides."""
    bundle, config = SUPERVISED[task]
    out = Path(tempfile.mkdtemp(prefix=f"learning_{task}_"))
    if task == "despeckle":
        datalist = write_histology_dataset(data / "histology", n=30, shape=(192, 192), seed=seed)
        overrides = despeckle_train_overrides(datalist, out, False)
    else:
        datalist = write_sample_dataset(data / "fundus", "fundus", n=10, seed=seed, shape=(96, 96))
        overrides = {**fundus_synthesis_stage_overrides(datalist, False)["edsr"], "output_dir": str(out)}
    overrides.update({"amp": amp, "time_limit_s": None, "max_epochs": 10**6, **(extra or {})})
    wf = _train_workflow(bundle, [config], overrides)
    identity, score = (_despeckle_scorer if task == "despeckle" else _edsr_scorer)(wf.parser, datalist)
    return wf, identity, score


def run_task(
    task: str,
    amp: str,
    iterations: int,
    every: int,
    data: Path,
    seed: int,
    extra: dict[str, Any] | None = None,
    overlays: list[str] | None = None,
    samples: int | None = None,
) -> dict[str, Any]:
    """Train one demo model, scoring it every ``every`` iterations.

    Args:
        task: ``"oct2confocal"``, ``"ct2mri"``, ``"despeckle"`` (confocal2he) or ``"edsr"`` (fundus_synthesis).
        amp: ``"bf16"`` or ``"none"``.
        iterations: iterations to train.
        every: scoring interval.
        data: folder of the sample data sets.
        seed: seed of the sample data.
        extra: train.json overrides on top of the demo's (``--set``), to compare a variant with the demo's recipe.
        overlays: config files of the bundle merged over train.json (``--config``), e.g. ct2mri's
            ``train_paired.json``; default: the demo's.
        samples: images per domain of the sample data set; default: the demo's.

    Returns:
        ``{"identity": ..., "curve": [{"iteration", "cpu_s", metric...}], "reached": {metric: (iteration, cpu_s)}}``.
    """
    if task in SUPERVISED:
        wf, identity, score = _supervised_workflow(task, data, seed, amp, extra)
        names = ("network",)
    else:
        wf, identity, score = _cyclegan_workflow(task, data, seed, iterations, amp, extra, overlays, samples)
        names = ("g_ab", "g_ba")
    trainer = wf.parser.get_parsed_content("train#trainer")
    networks = {k: wf.parser.get_parsed_content(k) for k in names}
    curve: list[dict[str, Any]] = []
    reached: dict[str, tuple[int, float]] = {}
    clock = {"cpu": 0.0, "since": time.process_time()}

    @trainer.on(Events.ITERATION_COMPLETED(every=every))
    def _score(engine: Any) -> None:
        clock["cpu"] += time.process_time() - clock["since"]
        for net in networks.values():
            net.eval()
        with torch.no_grad():
            values = score(networks)
        for net in networks.values():
            net.train()
        row = {"iteration": engine.state.iteration, "cpu_s": round(clock["cpu"], 1)}
        row.update({k: round(v, 4) for k, v in values.items()})
        curve.append(row)
        for k, target in TARGETS[task].items():
            if k not in reached and values[k] >= target:
                reached[k] = (engine.state.iteration, round(clock["cpu"], 1))
        print(f"  {task} amp={amp}: {json.dumps(row)}", flush=True)
        if engine.state.iteration >= iterations:
            engine.terminate()
        clock["since"] = time.process_time()

    trainer.run()
    return {"identity": identity, "curve": curve, "reached": reached, "iterations": iterations}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="oct2confocal,ct2mri")
    parser.add_argument("--amp", default="bf16", choices=("bf16", "none", "both"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=None, help="default: the demo's")
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=None, help="images per domain; default: the demo's")
    parser.add_argument(
        "--config",
        action="append",
        default=None,
        metavar="FILE",
        help="a config of the bundle merged over train.json (e.g. train_paired.json); default: the demo's",
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=JSON", help="a train.json override on top of the demo's"
    )
    args = parser.parse_args()
    extra = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    torch.set_num_threads(args.threads)
    amps = ("none", "bf16") if args.amp == "both" else (args.amp,)
    data = Path(tempfile.mkdtemp(prefix="learning_data_"))
    results = {}
    for task in args.tasks.split(","):
        iterations = args.iterations or (
            SUPERVISED_ITERATIONS[task] if task in SUPERVISED else DEMO_ITERATIONS[task][1]
        )
        for amp in amps:
            print(
                f"{task}, amp={amp}, {iterations} iterations, {args.threads} thread(s), configs: "
                + ("the demo's" if args.config is None else ", ".join(dict.fromkeys(["train.json", *args.config]))),
                flush=True,
            )
            results[(task, amp)] = r = run_task(
                task, amp, iterations, args.every, data, args.seed, extra, args.config, args.samples
            )
            print(
                "  identity baseline (input untouched): "
                + json.dumps({k: round(v, 4) for k, v in r["identity"].items()})
            )
    print("\ntask          amp   metric             target  identity  final    reached at (iteration, CPU s)")
    for (task, amp), r in results.items():
        final = r["curve"][-1] if r["curve"] else {}
        for k, target in TARGETS[task].items():
            at = r["reached"].get(k)
            print(
                f"{task:13s} {amp:5s} {k:18s} {target:<7} {r['identity'][k]:<9.4f} {final.get(k, float('nan')):<8.4f} "
                + (f"{at[0]}, {at[1]:.1f}" if at else "not reached")
            )
    if len(amps) == 2:
        print("\nfp32 vs bf16 at the same iterations (difference bf16 - fp32):")
        for task in args.tasks.split(","):
            a, b = results[(task, "none")]["curve"], results[(task, "bf16")]["curve"]
            for ra, rb in zip(a, b):
                diffs = {k: round(rb[k] - ra[k], 4) for k in TARGETS[task]}
                print(f"  {task} iteration {ra['iteration']}: {json.dumps(diffs)}")


if __name__ == "__main__":
    main()
