"""Speed and memory of the generators: forward and forward+backward time, peak memory, FLOPs and achieved TFLOP/s.

Cases (``--sizes full``): resnet_9blocks and unet_256 (2D, 3->3 channels) at 256^2 and 512^2, and the paper's 3D
generator (``oct2confocal_cyclegan3``, 1->3 channels) at 9x512^2. ``--sizes quick`` (the default on CPU, where the
3D full size needs tens of GB and many minutes) uses 128^2/256^2 in 2D and 9x64^2 in 3D.

Each case runs in a fresh process so that peak memory is its own: on CPU the rise of peak RSS over the RSS after the
network and input were built, on CUDA ``max_memory_allocated`` over what was allocated before the timed runs.
FLOPs are counted with ``torch.utils.flop_counter`` on the meta device (2 FLOPs per multiply-add).

Examples::

    python benchmarks/networks.py                       # CPU, quick sizes
    python benchmarks/networks.py --device cuda --amp bf16 --channels-last --peak-tflops 989
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import statistics
import sys
import time
from contextlib import nullcontext

CASES = {
    "full": [
        ("resnet_9blocks", 2, (256, 256)),
        ("resnet_9blocks", 2, (512, 512)),
        ("unet_256", 2, (256, 256)),
        ("unet_256", 2, (512, 512)),
        ("oct2confocal_cyclegan3", 3, (9, 512, 512)),
    ],
    "quick": [
        ("resnet_9blocks", 2, (128, 128)),
        ("resnet_9blocks", 2, (256, 256)),
        ("unet_256", 2, (256, 256)),
        ("oct2confocal_cyclegan3", 3, (9, 64, 64)),
    ],
}


def build(name: str):
    """Build the network of a case and its input channels.

    Args:
        name: ``resnet_9blocks``, ``unet_256`` or ``oct2confocal_cyclegan3``.

    Returns:
        ``(network, in_channels)``.
    """
    from medtranslate.networks import UNetGenerator, resnet_generator_preset

    if name == "unet_256":
        return UNetGenerator(2, 3, 3, num_downs=8), 3
    if name == "resnet_9blocks":
        return resnet_generator_preset("resnet_9blocks", 3, 3), 3
    return resnet_generator_preset(name, 1, 3), 1


def count_flops(name: str, batch: int, size: tuple[int, ...]) -> tuple[float, float]:
    """Forward and forward+backward FLOPs of a case, counted on the meta device (nothing is computed).

    Args:
        name: the case's network.
        batch: batch size.
        size: spatial size.

    Returns:
        ``(forward_flops, forward_backward_flops)``.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        net, in_ch = build(name)
        x = torch.randn(batch, in_ch, *size)
    with FlopCounterMode(display=False) as fwd:
        net(x)
    with FlopCounterMode(display=False) as both:
        net(x).float().mean().backward()
    return float(fwd.get_total_flops()), float(both.get_total_flops())


def _rss_peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def run_case(args: argparse.Namespace, name: str, spatial_dims: int, size: tuple[int, ...], queue) -> None:
    """Time one case in this (child) process and put a result dict on ``queue``.

    Args:
        args: parsed command line.
        name: the case's network.
        spatial_dims: 2 or 3.
        size: spatial size.
        queue: where the result goes.
    """
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    torch.manual_seed(0)
    net, in_ch = build(name)
    net = net.to(device)
    x = torch.rand(args.batch, in_ch, *size, device=device) * 2 - 1
    if args.channels_last:
        fmt = torch.channels_last if spatial_dims == 2 else torch.channels_last_3d
        net, x = net.to(memory_format=fmt), x.contiguous(memory_format=fmt)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.amp)
    amp = (lambda: torch.autocast(device.type, dtype=dtype)) if dtype else nullcontext

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    def forward() -> None:
        with torch.inference_mode(), amp():
            net(x)

    def forward_backward() -> None:
        net.zero_grad(set_to_none=True)
        with amp():
            loss = net(x).float().mean()
        loss.backward()

    def timed(fn, phase: str) -> tuple[float, float]:
        net.eval() if phase == "fwd" else net.train()
        if cuda:
            sync()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        else:
            base = _rss_now_mib()
        times = []
        for i in range(args.warmup + args.repeats):
            sync()
            t0 = time.perf_counter()
            fn()
            sync()
            if i >= args.warmup:
                times.append(time.perf_counter() - t0)
        peak = (torch.cuda.max_memory_allocated() - base) / 2**20 if cuda else _rss_peak_mib() - base
        return statistics.median(times), peak

    params = sum(p.numel() for p in net.parameters())
    t_fwd, m_fwd = timed(forward, "fwd")
    t_both, m_both = timed(forward_backward, "both")
    queue.put({"params": params, "t_fwd": t_fwd, "m_fwd": m_fwd, "t_both": t_both, "m_both": m_both})


def _rss_now_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table.

    Args:
        argv: command-line arguments (default: ``sys.argv[1:]``).

    Returns:
        0 on success.
    """
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--sizes", choices=("quick", "full"), help="case sizes (default: quick on CPU, full on CUDA)")
    p.add_argument("--quick", action="store_true", help="same as --sizes quick")
    p.add_argument("--amp", choices=("none", "bf16", "fp16"), default="none", help="autocast dtype")
    p.add_argument("--channels-last", action="store_true", help="channels-last memory format")
    p.add_argument("--peak-tflops", type=float, default=0.0, help="device peak, to print achieved/peak")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3, help="timed runs; the median is printed")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--only", default="", help="run only cases whose network name contains this")
    args = p.parse_args(argv)
    sizes = "quick" if args.quick else args.sizes or ("quick" if args.device == "cpu" else "full")

    import torch

    print(
        f"# torch {torch.__version__}, device {args.device}, amp {args.amp}, channels_last {args.channels_last}, "
        f"batch {args.batch}, threads {args.threads or torch.get_num_threads()}, sizes {sizes}, "
        f"median of {args.repeats} after {args.warmup} warm-up"
    )
    head = (
        f"{'network':<24} {'input':<12} {'params':>8} {'fwd s':>8} {'f+b s':>8} {'peak fwd':>9} {'peak f+b':>9} "
        f"{'GFLOP fwd':>10} {'TFLOP/s fwd':>11} {'TFLOP/s f+b':>11}"
    )
    mem_kind = "MiB peak RSS rise" if args.device == "cpu" else "MiB max allocated rise"
    print(head + (f" {'% peak f+b':>10}" if args.peak_tflops else ""))
    ctx = mp.get_context("spawn")
    for name, spatial_dims, size in CASES[sizes]:
        if args.only and args.only not in name:
            continue
        flops_fwd, flops_both = count_flops(name, args.batch, size)
        queue = ctx.Queue()
        proc = ctx.Process(target=run_case, args=(args, name, spatial_dims, size, queue))
        proc.start()
        proc.join()
        if proc.exitcode != 0 or queue.empty():
            print(f"{name:<24} {'x'.join(map(str, size)):<12} failed (exit code {proc.exitcode}; out of memory?)")
            continue
        r = queue.get()
        tf_fwd, tf_both = flops_fwd / r["t_fwd"] / 1e12, flops_both / r["t_both"] / 1e12
        line = (
            f"{name:<24} {'x'.join(map(str, size)):<12} {r['params'] / 1e6:>7.1f}M {r['t_fwd']:>8.3f} "
            f"{r['t_both']:>8.3f} {r['m_fwd']:>9.0f} {r['m_both']:>9.0f} {flops_fwd / 1e9:>10.1f} "
            f"{tf_fwd:>11.3f} {tf_both:>11.3f}"
        )
        if args.peak_tflops:
            line += f" {100 * tf_both / args.peak_tflops:>9.1f}%"
        print(line, flush=True)
    print(f"# memory columns: {mem_kind}; f+b = forward + backward (training step without optimiser)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
