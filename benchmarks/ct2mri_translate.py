"""Time the ct2mri bundle's translation of a CT volume (default 512 x 512 x 100), slice by slice at 256 x 256.

What is timed is what `medtranslate translate --bundle bundles/ct2mri` does per volume once it is loaded: HU window ->
[-1, 1], MONAI SliceInferer over the axial slices, each slice resized 512 -> 256, ResNet-9 generator, resized back, HU
inverse. The weights are random (speed does not depend on them). Prints one table row per run.

    python benchmarks/ct2mri_translate.py                       # CPU, full 100 slices
    python benchmarks/ct2mri_translate.py --depth 8             # CPU, quick: 8 slices, per-slice figure
    python benchmarks/ct2mri_translate.py --device cuda --amp bf16 --sw-batch-size 16
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    """Parse the options, run the benchmark, print the figures."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, nargs=2, default=(512, 512), help="in-plane size of the CT")
    ap.add_argument("--depth", type=int, default=100, help="number of slices")
    ap.add_argument("--image-size", type=int, default=256, help="network input size (bundle image_size)")
    ap.add_argument("--channels", type=int, default=64, help="generator base channels (64 = resnet_9blocks)")
    ap.add_argument("--res-blocks", type=int, default=9)
    ap.add_argument("--sw-batch-size", type=int, default=8, help="slices per network call")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--amp", choices=("bf16", "fp16", "none"), default="none")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()

    import torch
    from monai.data import MetaTensor

    from medtranslate.inferers import ResizeNetwork, SliceTranslator
    from medtranslate.networks import ResNetGenerator
    from medtranslate.transforms import HUWindow

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    net = ResNetGenerator(2, 1, 1, channels=args.channels, num_downsamplings=2, num_res_blocks=args.res_blocks)
    net = ResizeNetwork(net.to(device).eval(), (args.image_size, args.image_size))
    x, y = args.size
    # a CT-like volume: air, a skull ring, soft tissue, in HU
    gx, gy = torch.meshgrid(torch.linspace(-1, 1, x), torch.linspace(-1, 1, y), indexing="ij")
    r = (gx**2 + gy**2).sqrt()
    plane = torch.where(r < 0.7, 35.0, -1000.0) + torch.where((r > 0.62) & (r < 0.7), 1000.0, 0.0)
    ct = MetaTensor(plane[None, :, :, None].repeat(1, 1, 1, args.depth) + 5 * torch.randn(1, x, y, args.depth))
    window = HUWindow((-1000, 2000))
    translator = SliceTranslator(
        (-1, -1), axis=2, sw_batch_size=args.sw_batch_size, device=device, amp=None if args.amp == "none" else args.amp
    )
    print(
        f"device {device}, threads {args.threads}, volume {x}x{y}x{args.depth}, network input "
        f"{args.image_size}^2, channels {args.channels}, res blocks {args.res_blocks}, sw_batch {args.sw_batch_size}, "
        f"amp {args.amp}"
    )
    print("| run | seconds | slices/s | s/slice | peak GPU MB |")
    print("|---|---|---|---|---|")
    for i in range(args.repeats):
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        out = window.inverse(translator(net, window(ct)))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        dt = time.perf_counter() - t0
        assert tuple(out.shape) == tuple(ct.shape)
        gpu = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else float("nan")
        print(f"| {i + 1} | {dt:.2f} | {args.depth / dt:.2f} | {dt / args.depth:.3f} | {gpu:.0f} |")


if __name__ == "__main__":
    main()
