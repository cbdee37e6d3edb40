"""The demo's ct2mri step (bundles/ct2mri): a small CT<->MR CycleGAN on the phantoms, translated and evaluated.

:func:`ct2mri_train_overrides` and :data:`_CT_WINDOW` hold the demo's training settings (also what
benchmarks/learning.py measures).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from medtranslate.cli.bundle_runner import run_bundle_config
from medtranslate.cli.demo.core import DEMO_ITERATIONS, DEMO_TIME_LIMIT_S, FULL, QUICK, DemoContext
from medtranslate.cli.demo.training import _demo_amp, _demo_schedule, _trained_iterations
from medtranslate.data import datalist_split
from medtranslate.errors import ConfigError
from medtranslate.io import load_image
from medtranslate.metrics.structure import foreground_slices, paired_psnr, paired_ssim
from medtranslate.transforms import HUWindow, PercentileNormalize

__all__ = ["CT2MRI_NET", "ct2mri_train_overrides"]

#: The demo's CT window: soft tissue (W 400, L 40 HU). Grey matter, white matter and CSF differ by 10-30 HU, which the
#: bundle's bone-inclusive window (-1000..2000 HU) squeezes into 1 % of the network's range; the MR shows them
#: strongly. MR -> CT then only spans this window (bone saturates at 240 HU). The brain window (0..80 HU) was measured
#: and is worse: it merges fat with air and marrow with bone, which T1 MR shows in opposite shades, so even the best
#: CT -> MR look-up table scores SSIM 0.506 with it against 0.586 with this one (benchmarks/ct_window_bound.py), and
#: the small CycleGAN stayed at 0.40-0.47 (identity 0.472) over its first 600 iterations.
_CT_WINDOW = [-160, 240]


#: The configs the demo trains ct2mri with, merged in order: the phantoms are registered pairs, so the CycleGAN also
#: learns from each pair (``train_paired.json``: an L1 term between each translation and the other image of its pair,
#: beside the adversarial and cycle terms). Unpaired (``train.json`` alone) the demo's small CycleGAN stayed at the
#: identity baseline in the demo's budget (SSIM 0.50-0.53 against 0.51 after 2,000 iterations at lr 2e-4 or 5e-4,
#: benchmarks/learning.py).
CT2MRI_TRAIN_CONFIGS = ("train.json", "train_paired.json")

#: Network keys of the demo's ct2mri model (train, inference and evaluate need the same).
CT2MRI_NET = ("gen_channels", "gen_res_blocks", "gen_downsamplings", "upsample", "image_size", "hu_window")


def ct2mri_train_overrides(datalist: Path, output_dir: Path, quick: bool, iterations: int, amp: str) -> dict[str, Any]:
    """The demo's bundles/ct2mri train.json overrides (also what benchmarks/learning.py measures).

    A small generator (16 channels, one downsampling, 3 residual blocks, resize + conv upsampling) at the phantoms' own
    slice size, the soft-tissue CT window, batch 2, half of the run at lr 5e-4 and half decaying, the paired term of
    ``train_paired.json`` at weight 30, and L1 + SSIM (0.84 SSIM, Zhao et al.'s mix, as ganslate's cycle) for both the
    paired and the cycle terms. Measured with benchmarks/learning.py (1 thread; SSIM vs the paired MR / cycle SSIM;
    identity 0.511): 8 channels and 2 downsamplings, L1, 2,000 iterations 0.714 / 0.867; 16 channels 0.729 / 0.920;
    one downsampling instead of two (as fast: its residual blocks run at twice the resolution with half the
    channels) 0.747 / 0.930; with L1 + SSIM on the paired term 0.752 / 0.911 (training seed 1: 0.748 / 0.898); over
    2,500 iterations, training seed 1, L1 0.745 / 0.925 and paired L1 + SSIM 0.761 / 0.900; **with L1 + SSIM on the
    cycle too 0.751 / 0.934 and 0.766 / 0.903 (training seeds 0 / 1; 290-300 CPU s)**. Unpaired, the small CycleGAN
    stayed at the identity level (0.50-0.53).

    Args:
        datalist: the sample ct_mr datalist.
        output_dir: the training output folder.
        quick: the ``--quick`` sample size.
        iterations: training iterations wanted (rounded up to whole epochs).
        amp: ``"bf16"`` or ``"none"``.

    Returns:
        config id -> value.
    """
    shape = (QUICK if quick else FULL)["ct_mr"][1]
    slices, batch = (4, 2) if quick else (8, 2)
    per_epoch = max(1, len(datalist_split(datalist, "training", "pairs")) * slices // batch)
    epochs = max(2, -(-iterations // per_epoch))
    return {
        "gen_channels": 16,
        "gen_res_blocks": 3,
        "gen_downsamplings": 1,
        "upsample": "resize",
        "image_size": list(shape[:2]),
        "hu_window": _CT_WINDOW,
        "dataset_dir": str(Path(datalist).parent),
        "datalist": str(datalist),
        "output_dir": str(output_dir),
        "amp": amp,
        "disc_channels": 8,
        "disc_layers": 2,
        "lr": 5e-4,
        "lambda_paired": 30.0,
        "paired_ssim_weight": 0.84,
        "cycle_ssim_weight": 0.84,
        "batch_size": batch,
        "slices_per_volume": slices,
        **_demo_schedule(epochs),
        "device": "cpu",
    }


def _ct2mri_identity(datalist: Path, hu_window: list[int], percentiles: list[float]) -> dict[str, float]:
    """The identity baseline on the test pairs: the untouched CT against the paired MR (and back), as the bundle's
    evaluation normalises and slices them (CT window and MR percentiles onto [-1, 1], foreground slices only)."""
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
    bundle = Path(__file__).resolve().parents[3] / "bundles" / "ct2mri"
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
        f"      {epochs * per_epoch} iterations, amp={amp} ({'bfloat16 autocast' if amp == 'bf16' else 'float32'}), "
        f"configs {' + '.join(CT2MRI_TRAIN_CONFIGS)}: CycleGAN plus a paired L1 + SSIM term (the phantoms are "
        "registered), L1 + SSIM cycle"
    )
    run_bundle_config(bundle, CT2MRI_TRAIN_CONFIGS, train)
    ckpt = out / "train" / "checkpoints"
    ctx.add_output("ct2mri training (checkpoints, loss.png)", out / "train")
    common = {**net, "checkpoint": str(ckpt), "device": "cpu"}
    test_ct = [i["image"] for i in datalist_split(datalist, "test", "domain_a")]
    test_mr = [i["image"] for i in datalist_split(datalist, "test", "domain_b")]
    summary: dict[str, Any] = {
        "used": "training in the demo (no shipped weights); CycleGAN with the paired term of train_paired.json, L1 + "
        "SSIM paired and cycle terms",
        "configs": list(CT2MRI_TRAIN_CONFIGS),
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
