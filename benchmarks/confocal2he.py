"""confocal2he (seed 001) speed and memory: despeckling throughput and whole-slide staining of a large slide.

1. Despeckling throughput: :class:`~medtranslate.networks.DespeckleNet` (seed size: 7 x 64 filters) on 512 x 512
   tiles, in megapixels per second, fp32 and bf16 autocast, beside the 3 x 3 median alone (the baseline the network has
   to beat in quality; here its cost).
2. Whole slide: a procedural FCM/RCM pair of ``--size`` x ``--size`` pixels (default 20,000) is streamed to tiled
   pyramidal OME-TIFFs on disk (never whole in memory), then stained by the bundle's whole-slide path
   (:class:`~medtranslate.workflows.WholeSlideStainWorkflow`: despeckle RCM -> Gareau -> CycleGAN generator, Gaussian-
   blended windows, streaming pyramidal OME-TIFF writer). Each phase runs in a fresh process and prints its seconds,
   megapixels per second and peak RSS (``ru_maxrss``) beside the process's RSS after imports (the baseline). The
   target is a peak RSS of at most 2 GB for 20,000 x 20,000.

The networks are untrained (speed and memory do not depend on the weights). On a CPU the seed-size CycleGAN
generator over 400 megapixels takes hours, so ``--stages`` picks how much of the chain runs: ``gareau`` (stain only),
``despeckle`` (despeckle + stain), ``full`` (despeckle + stain + generator; ``--gen-channels`` sets its width).

CPU, quick:   python benchmarks/confocal2he.py --size 4000
As measured:  python benchmarks/confocal2he.py --size 20000 --stages despeckle --despeckle-channels 16
GPU:          python benchmarks/confocal2he.py --size 20000 --stages full --device cuda --amp bf16
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _despeckle_throughput(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from monai.networks.layers import MedianFilter

    from medtranslate.networks import DespeckleNet

    torch.set_num_threads(args.threads)
    net = DespeckleNet(2, 1, args.despeckle_channels, 7).eval().to(args.device)
    x = torch.rand(args.batch, 1, 512, 512, device=args.device)
    out: dict[str, Any] = {}
    median = MedianFilter(1, spatial_dims=2)
    runs: list[tuple[str, Any, Any]] = [
        ("median 3x3 only", median, None),
        ("despeckle fp32", net, None),
        ("despeckle bf16", net, torch.bfloat16),
    ]
    for name, fn, dtype in runs:
        with torch.inference_mode(), torch.autocast(x.device.type, dtype or torch.float32, enabled=dtype is not None):
            fn(x)  # warm-up
            start = time.perf_counter()
            for _ in range(args.repeats):
                fn(x)
            if x.device.type == "cuda":
                torch.cuda.synchronize()
            sec = (time.perf_counter() - start) / args.repeats
        out[name] = {"seconds_per_batch": round(sec, 4), "megapixels_per_s": round(x.numel() / 1e6 / sec, 3)}
    return out


def _generate(args: argparse.Namespace, folder: str, queue: Any) -> None:
    from medtranslate.data.samples.skin import write_skin_slide_pair

    base = _rss_mb()
    start = time.perf_counter()
    fcm, rcm = write_skin_slide_pair(folder, (args.size, args.size), seed=0, looks=4.0)
    sec = time.perf_counter() - start
    queue.put({"seconds": round(sec, 1), "baseline_rss_mb": round(base, 1), "peak_rss_mb": round(_peak_rss_mb(), 1)})


def _stain(args: argparse.Namespace, folder: str, queue: Any) -> None:
    import torch

    from medtranslate.inferers.tiled import TiledStreamTranslator
    from medtranslate.networks import DespeckleNet, ResNetGenerator
    from medtranslate.workflows import ConfocalStainNetwork, WholeSlideStainWorkflow

    torch.set_num_threads(args.threads)
    despeckle = DespeckleNet(2, 1, args.despeckle_channels, 7, median_filter=True)
    generator = ResNetGenerator(2, 3, 3, channels=args.gen_channels, num_res_blocks=args.gen_res_blocks)
    net = ConfocalStainNetwork(
        despeckle if args.stages in ("despeckle", "full") else None, generator if args.stages == "full" else None
    )
    tiler = TiledStreamTranslator(args.window, args.window // 2, args.sw_batch_size, args.device, args.amp)
    wf = WholeSlideStainWorkflow(
        Path(folder) / "slide_fcm.ome.tif", Path(folder) / "out", net, tiler, Path(folder) / "slide_rcm.ome.tif"
    )
    base = _rss_mb()
    start = time.perf_counter()
    result = wf.run()
    sec = time.perf_counter() - start
    queue.put(
        {
            "ok": result.ok,
            "error": None if result.ok else result.items[0]["error"],
            "seconds": round(sec, 1),
            "megapixels_per_s": round(args.size**2 / 1e6 / sec, 3),
            "baseline_rss_mb": round(base, 1),
            "peak_rss_mb": round(_peak_rss_mb(), 1),
            "output_mb": round((Path(folder) / "out" / "slide_he.ome.tif").stat().st_size / 2**20, 1)
            if result.ok
            else 0,
        }
    )


def _in_process(target: Any, args: argparse.Namespace, folder: str) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    p = ctx.Process(target=target, args=(args, folder, queue))
    p.start()
    res = queue.get()
    p.join()
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=20_000, help="slide side in pixels")
    p.add_argument("--stages", choices=("gareau", "despeckle", "full"), default="despeckle")
    p.add_argument("--despeckle-channels", type=int, default=64)
    p.add_argument("--gen-channels", type=int, default=64)
    p.add_argument("--gen-res-blocks", type=int, default=9)
    p.add_argument("--window", type=int, default=512)
    p.add_argument("--sw-batch-size", type=int, default=4)
    p.add_argument("--device", default="cpu")
    p.add_argument("--amp", choices=("bf16", "fp16"), default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=2, help="tiles per call in the despeckling throughput test")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--workdir", help="where the slides go (default: a temporary folder, removed afterwards)")
    p.add_argument("--skip-throughput", action="store_true")
    p.add_argument(
        "--reuse-slides",
        action="store_true",
        help="use slide_fcm.ome.tif / slide_rcm.ome.tif already in --workdir (generation of a 20,000² pair takes long)",
    )
    args = p.parse_args(argv)
    report: dict[str, Any] = {"args": vars(args)}
    if not args.skip_throughput:
        report["despeckle_512px_tiles"] = _despeckle_throughput(args)
        print(json.dumps({"despeckle_512px_tiles": report["despeckle_512px_tiles"]}, indent=2), flush=True)
    folder = args.workdir or tempfile.mkdtemp(prefix="confocal2he_bench_")
    Path(folder).mkdir(parents=True, exist_ok=True)
    try:
        if not args.reuse_slides:
            report["generate_slide_pair"] = _in_process(_generate, args, folder)
            print(json.dumps({"generate_slide_pair": report["generate_slide_pair"]}), flush=True)
        report["whole_slide_stain"] = _in_process(_stain, args, folder)
        print(json.dumps({"whole_slide_stain": report["whole_slide_stain"]}), flush=True)
    finally:
        if not args.workdir:
            shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
