"""Whole-stack translation speed and memory: sliding windows (medtranslate.inferers) vs a naive slab loop.

Translates one synthetic OCT-like stack (1 channel -> 3, as OCT -> confocal) with the seed-000 3D ResNet generator
(``oct2confocal_cyclegan3``: 3 in-plane downsamplings, 9 residual blocks, anisotropic kernels) and prints, per method:
seconds, voxels per second, peak host memory (RSS) above the pre-run baseline, peak GPU memory (CUDA only) and the
seam ratio (gradient energy on window/slab borders divided by elsewhere; ~1 means no visible seams).

* ``sliding``: :func:`medtranslate.inferers.translate_volume`, Gaussian blending, overlap 0.5 by default.
* ``slabs``: the naive loop: non-overlapping slabs of ``roi`` depth, each slab whole in-plane, concatenated.
* ``oneshot``: the whole volume in one forward pass (the reference; only for volumes that fit). Its "seams" column
  is the same measure taken at the sliding-window borders, i.e. the noise floor of the seam ratio for this content.

Each method runs in a fresh process so that the peak memory of one does not hide the other's.

CPU (default, reduced):  python benchmarks/translate.py
GPU (the paper's size):  python benchmarks/translate.py --size 1024 512 512 --device cuda --amp bf16 --channels 64 \
                             --roi 9 256 256 --sw-batch-size 4 --methods sliding slabs
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import time
from typing import Any


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _volume(size: list[int], seed: int):
    """A smooth random texture in [-1, 1] (1, D, H, W), cheap to build at any size (trilinear upsampling).

    The coarse grid does not divide the volume (its kinks must not line up with window borders, or the seam ratio
    would measure the texture) and a little fine noise is added.
    """
    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 1, *[s // 4 + 3 for s in size], generator=g) * 2 - 1
    x = F.interpolate(coarse, size=size, mode="trilinear", align_corners=False)[0]
    x += 0.05 * torch.randn(x.shape, generator=g)
    return x.clamp_(-1.0, 1.0)


def _network(channels: int, device: str):
    import torch

    from medtranslate.networks import resnet_generator_preset

    torch.manual_seed(0)
    net = resnet_generator_preset("oct2confocal_cyclegan3", in_channels=1, out_channels=3, channels=channels)
    return net.to(device).eval()


def _run(method: str, args: dict[str, Any], queue) -> None:
    import torch

    if args["threads"] > 0:
        torch.set_num_threads(args["threads"])
    from medtranslate.inferers import seam_score, translate_volume

    device = args["device"]
    net = _network(args["channels"], device)
    x = _volume(args["size"], seed=1)
    roi = args["roi"]
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    base = _rss_mb()
    t0 = time.perf_counter()
    if method == "sliding":
        y = translate_volume(
            net,
            x,
            roi,
            sw_batch_size=args["sw_batch_size"],
            overlap=args["overlap"],
            mode="gaussian",
            device=device,
            stitch_device=args["stitch_device"],
            amp=args["amp"],
        )
        seam_roi, seam_overlap = roi, args["overlap"]
    else:
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args["amp"] or "", None)
        step = roi[0] if method == "slabs" else x.shape[1]
        out = []
        with torch.inference_mode():
            for start in range(0, x.shape[1], step):
                slab = x[None, :, start : start + step].to(device)
                with torch.autocast(device_type=torch.device(device).type, dtype=dtype, enabled=dtype is not None):
                    out.append(net(slab)[0].float().cpu())
        y = torch.cat(out, dim=1)
        if method == "slabs":
            seam_roi, seam_overlap = (roi[0], *args["size"][1:]), 0.0
        else:  # the same measure on the sliding-window borders of an output made without windows: the noise floor
            seam_roi, seam_overlap = roi, args["overlap"]
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    gpu = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else float("nan")
    try:
        seams = seam_score(y.float().cpu(), seam_roi, seam_overlap, interior_margin=2).ratio
    except Exception:  # noqa: BLE001 - a single window/slab has no border
        seams = float("nan")
    voxels = x[0].numel()
    queue.put(
        {
            "method": method,
            "seconds": seconds,
            "voxels_per_s": voxels / seconds,
            "host_extra_mb": _peak_rss_mb() - base,
            "host_peak_mb": _peak_rss_mb(),
            "gpu_peak_mb": gpu,
            "seam_ratio": seams,
            "out_shape": list(y.shape),
        }
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table.

    Args:
        argv: command-line arguments (``--help`` lists them).
    """
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, nargs=3, default=[16, 128, 128], metavar=("D", "H", "W"))
    p.add_argument("--roi", type=int, nargs=3, default=[9, 64, 64], metavar=("D", "H", "W"))
    p.add_argument("--channels", type=int, default=8, help="generator base channels (paper: 64)")
    p.add_argument("--overlap", type=float, default=0.5)
    p.add_argument("--sw-batch-size", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--stitch-device", default=None, help="'cpu' stitches in host memory (default: --device)")
    p.add_argument("--amp", choices=["bf16", "fp16"], default=None)
    p.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("OMP_NUM_THREADS", "0")),
        help="torch CPU threads (default: $OMP_NUM_THREADS, else torch's default); on a shared machine use 1",
    )
    p.add_argument(
        "--methods",
        nargs="+",
        default=["sliding", "slabs", "oneshot"],
        choices=["sliding", "slabs", "oneshot"],
        help="oneshot = the whole volume in one forward pass (the reference; needs memory for the whole volume)",
    )
    p.add_argument("--json", default=None, help="also write the rows to this JSON file")
    a = p.parse_args(argv)
    args = vars(a)
    ctx = mp.get_context("spawn")
    rows = []
    for method in a.methods:
        queue = ctx.Queue()
        proc = ctx.Process(target=_run, args=(method, args, queue))
        proc.start()
        row = queue.get()
        proc.join()
        rows.append(row)
    print(
        f"whole-stack translation, volume {tuple(a.size)} (1 -> 3 channels), window {tuple(a.roi)}, "
        f"overlap {a.overlap}, oct2confocal_cyclegan3 with {a.channels} base channels, device {a.device}, "
        f"amp {a.amp}, threads {a.threads or 'default'}"
    )
    head = f"{'method':<8} {'seconds':>9} {'voxels/s':>11} {'host +MB':>9} {'host peak MB':>13} {'GPU MB':>8}"
    head += f" {'seams':>6}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['method']:<8} {r['seconds']:>9.2f} {r['voxels_per_s']:>11.0f} {r['host_extra_mb']:>9.0f} "
            f"{r['host_peak_mb']:>13.0f} {r['gpu_peak_mb']:>8.0f} {r['seam_ratio']:>6.2f}"
        )
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"args": args, "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
