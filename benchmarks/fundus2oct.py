"""Benchmark the fundus2oct bundle: CycleGAN training iterations per second and fundus -> OCT translation throughput.

Builds the networks, optimisers and trainer from ``bundles/fundus2oct/configs/train.json`` (so the figures are the
bundle's own, with any ``--set`` overrides) and times ``CycleGANTrainer``'s real step on random fundus (3 channels)
and OCT (1 channel) batches, then times the inference generator (fundus -> OCT, ``inference.json``) on a batch of
images. Each figure is printed beside a baseline measured in the same run under the same machine load: the training
step beside the forward pass of the two generators alone (the cost that no trainer can avoid), and translation beside
a plain ``torch.no_grad()`` forward of the same network.

    .venv/bin/python benchmarks/fundus2oct.py [--size 256] [--amp none|bf16] [--threads 2] [--repeat 5]
        [--set gen_channels=8 --set gen_res_blocks=2]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from monai.bundle import ConfigParser
from timing import median_seconds  # benchmarks/timing.py: this script runs from benchmarks/

from medtranslate.engines import CycleGANTrainer
from medtranslate.engines.amp import autocast, resolve_amp

BUNDLE = Path(__file__).resolve().parents[1] / "bundles" / "fundus2oct"


def main() -> None:
    """Run the benchmark and print its table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--amp", default="none")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    overrides = {"image_size": [args.size, args.size], "device": "cpu", "amp": args.amp}
    for kv in args.set:
        k, v = kv.split("=", 1)
        overrides[k] = json.loads(v)
    parser = ConfigParser()
    parser.read_config(str(BUNDLE / "configs" / "train.json"))
    parser.update({"bundle_root": str(BUNDLE), **overrides})
    torch.manual_seed(0)
    g_ab, g_ba = parser.get_parsed_content("g_ab"), parser.get_parsed_content("g_ba")
    d_a, d_b = parser.get_parsed_content("d_a"), parser.get_parsed_content("d_b")
    s, b = args.size, args.batch
    batch = {"A": torch.rand(b, 3, s, s) * 2 - 1, "B": torch.rand(b, 1, s, s) * 2 - 1}
    trainer = CycleGANTrainer(
        "cpu", 1, [batch], g_ab, g_ba, d_a, d_b,
        parser.get_parsed_content("g_optimizer"), parser.get_parsed_content("d_optimizer"),
        adversarial_loss=parser["adversarial_mode"], identity_loss=parser.get_parsed_content("identity_loss"),
        lambda_cycle=parser["lambda_cycle"], lambda_identity=parser["lambda_identity"], amp=args.amp,
        pool_size=parser["pool_size"],
    )  # fmt: skip
    dtype = resolve_amp(args.amp)

    def forward_only() -> None:
        with torch.no_grad(), autocast(torch.device("cpu"), dtype):
            g_ba(g_ab(batch["A"]))
            g_ab(g_ba(batch["B"]))

    step = median_seconds(lambda: trainer._iteration(trainer, batch), args.warmup, args.repeat)
    fwd = median_seconds(forward_only, args.warmup, args.repeat)
    n_params = sum(p.numel() for n in (g_ab, g_ba, d_a, d_b) for p in n.parameters())

    inf = ConfigParser()
    inf.read_config(str(BUNDLE / "configs" / "inference.json"))
    inf.update({"bundle_root": str(BUNDLE), **{k: v for k, v in overrides.items() if k in inf.config}})
    net = inf.get_parsed_content("network_def").eval()
    inferer = inf.get_parsed_content("inferer")
    fit = inf.get_parsed_content("directions#fundus2oct#input_transform")
    photo = torch.rand(3, int(s * 1.5), s * 2) * 255  # a wide photograph, fitted as the config says
    n_img = 8

    def translate() -> None:
        for _ in range(n_img):
            inferer(net, fit(photo))

    def plain() -> None:
        x = torch.rand(1, 3, s, s) * 2 - 1
        with torch.no_grad(), autocast(torch.device("cpu"), dtype):
            for _ in range(n_img):
                net(x)

    t_tr = median_seconds(translate, 1, max(2, args.repeat // 2))
    t_plain = median_seconds(plain, 1, max(2, args.repeat // 2))
    print(f"fundus2oct benchmark: {s}x{s}, batch {b}, amp {args.amp}, {args.threads} threads, overrides {overrides}")
    print(f"parameters (2 generators + 2 discriminators): {n_params:,}")
    print("| what | seconds | per second | baseline (same run) | baseline seconds | ratio |")
    print("|---|---|---|---|---|---|")
    print(f"| CycleGAN training iteration | {step:.3f} | {1 / step:.2f} it/s | both cycles' forward, no grad | "
          f"{fwd:.3f} | {step / fwd:.1f}x |")  # fmt: skip
    print(f"| translate {n_img} fundus photographs ({int(s * 1.5)}x{s * 2} -> {s}x{s} OCT) | {t_tr:.3f} | "
          f"{n_img / t_tr:.1f} img/s | plain network forward | {t_plain:.3f} | {t_tr / t_plain:.2f}x |")  # fmt: skip


if __name__ == "__main__":
    main()
