"""Time one full CycleGAN training iteration (2 generators, 2 discriminators, every loss, both optimiser steps).

Each case runs in a fresh process (so its peak memory is its own) through ``CycleGANTrainer``'s real step: forward of
both cycles, adversarial + cycle + identity (+ gradient) losses, generator update, pooled discriminator update.
It prints the median seconds per iteration after warm-up and the peak memory (CUDA: ``max_memory_allocated``;
CPU: the process's peak RSS). For 2D cases a second process builds medtranslate's step and a plain-PyTorch step
written after the reference's ``optimize_parameters`` side by side and times them alternately, because load on
these shared machines moves single timings by 25 % and more; the ratio of the paired timings is the fair figure.

Cases (``--cases``):

- ``2d-256-b1``, ``2d-256-b2``: resnet_9blocks (ngf 64) + 70x70 PatchGAN, 3 -> 3 channels, 256x256, batch 1 / 2:
  the reference CycleGAN's defaults (lsgan, lambda 10, identity 0.5, pool 50), comparable with its
  ``optimize_parameters()`` (15.1 s/iteration at batch 1 on this project's 2-core CPU machines, REFERENCES.md).
- ``3d-9x128-b1``, ``3d-9x512-b1``: seed 000's "3D CycleGAN-3" (ngf 64, 3 downsamplings, anisotropic kernels) +
  the 70x70x9 3D PatchGAN, OCT 1 -> confocal 3 channels, depth-9 slabs, BCE, identity through luminance, gradient
  loss 0.1. ``9x512`` is the seed's size (GPU only by default).

    .venv/bin/python benchmarks/train_step.py [--device cpu|cuda] [--amp bf16|fp16|none] [--channels-last]
        [--cases 2d-256-b1,2d-256-b2] [--warmup 2] [--repeat 5] [--threads 2] [--fused-adam] [--compile]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

CASES = {
    "2d-32-b1": {"dims": 2, "spatial": (32, 32), "batch": 1, "smoke": True},
    "2d-128-b1": {"dims": 2, "spatial": (128, 128), "batch": 1},
    "2d-256-b1": {"dims": 2, "spatial": (256, 256), "batch": 1},
    "2d-256-b2": {"dims": 2, "spatial": (256, 256), "batch": 2},
    "3d-9x128-b1": {"dims": 3, "spatial": (9, 128, 128), "batch": 1},
    "3d-9x512-b1": {"dims": 3, "spatial": (9, 512, 512), "batch": 1, "gpu_only": True},
}
REFERENCE_CPU_S = {"2d-256-b1": 15.1, "2d-256-b2": 34.1}  # junyanz optimize_parameters, 2 threads (REFERENCES.md)


def _batch(case: dict, ch_a: int, ch_b: int) -> dict:
    """Random images in [-1, 1] of the case's size (seeded)."""
    import torch

    g = torch.Generator().manual_seed(1)
    shape = (case["batch"],) + tuple(case["spatial"])
    return {
        "A": torch.rand(shape[:1] + (ch_a,) + shape[1:], generator=g) * 2 - 1,
        "B": torch.rand(shape[:1] + (ch_b,) + shape[1:], generator=g) * 2 - 1,
    }


def _build(
    case: dict,
    device: str,
    amp: str,
    channels_last: bool,
    batched: bool = True,
    fused: bool = False,
    compile_networks: bool = False,
):
    """A CycleGANTrainer with the case's networks and one batch on ``device``."""
    import itertools

    import torch

    from medtranslate.engines import CycleGANTrainer
    from medtranslate.losses import IdentityLoss
    from medtranslate.networks import init_weights, patch_discriminator_preset, resnet_generator_preset

    torch.manual_seed(0)
    if case["dims"] == 2:
        ch_a = ch_b = 3
        g_preset, d_preset, adv, idt, lam_grad = "resnet_9blocks", "patchgan_70", "lsgan", IdentityLoss(), 0.0
    else:
        ch_a, ch_b = 1, 3
        g_preset, d_preset = "oct2confocal_cyclegan3", "patchgan_70x70x9"
        adv, idt, lam_grad = "vanilla", IdentityLoss("luminance"), 0.1
    g_ab = init_weights(resnet_generator_preset(g_preset, ch_a, ch_b)).to(device)
    g_ba = init_weights(resnet_generator_preset(g_preset, ch_b, ch_a)).to(device)
    d_a = init_weights(patch_discriminator_preset(d_preset, ch_a)).to(device)
    d_b = init_weights(patch_discriminator_preset(d_preset, ch_b)).to(device)
    adam = {"lr": 2e-4, "betas": (0.5, 0.999), **({"fused": True} if fused else {})}
    g_opt = torch.optim.Adam(itertools.chain(g_ab.parameters(), g_ba.parameters()), **adam)
    d_opt = torch.optim.Adam(itertools.chain(d_a.parameters(), d_b.parameters()), **adam)
    batch = _batch(case, ch_a, ch_b)
    if compile_networks:  # torch.compile (inductor) of each network; the first iterations pay the compile time
        g_ab, g_ba, d_a, d_b = (torch.compile(n) for n in (g_ab, g_ba, d_a, d_b))
    trainer = CycleGANTrainer(
        device, 1, [batch], g_ab, g_ba, d_a, d_b, g_opt, d_opt, adversarial_loss=adv, identity_loss=idt,
        lambda_gradient=lam_grad, amp=amp, channels_last=channels_last, pool_size=50, batch_networks=batched,
    )  # fmt: skip
    n_params = sum(p.numel() for n in (g_ab, g_ba, d_a, d_b) for p in n.parameters())
    return trainer, batch, n_params


def _baseline(case: dict, device: str):
    """Plain PyTorch CycleGAN step written after the reference's ``optimize_parameters`` (2D cases only).

    It runs beside medtranslate's step in the same benchmark, so the two are compared under the same machine load
    (these shared machines vary by 25 % and more); its layers are those REFERENCES.md lists for resnet_9blocks and
    the 70x70 NLayerDiscriminator, with N(0, 0.02) weights.
    """
    import itertools
    import random

    import torch
    from torch import nn

    def gen(c_in: int, c_out: int, ngf: int = 64) -> nn.Module:
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(c_in, ngf, 7), nn.InstanceNorm2d(ngf), nn.ReLU(True)]
        for m in (1, 2):
            layers += [nn.Conv2d(ngf * m, ngf * m * 2, 3, 2, 1), nn.InstanceNorm2d(ngf * m * 2), nn.ReLU(True)]

        class Res(nn.Module):
            def __init__(self, d: int) -> None:
                super().__init__()
                self.body = nn.Sequential(
                    nn.ReflectionPad2d(1), nn.Conv2d(d, d, 3), nn.InstanceNorm2d(d), nn.ReLU(True),
                    nn.ReflectionPad2d(1), nn.Conv2d(d, d, 3), nn.InstanceNorm2d(d),
                )  # fmt: skip

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return x + self.body(x)

        layers += [Res(ngf * 4) for _ in range(9)]
        for m in (4, 2):
            layers += [nn.ConvTranspose2d(ngf * m, ngf * m // 2, 3, 2, 1, output_padding=1)]
            layers += [nn.InstanceNorm2d(ngf * m // 2), nn.ReLU(True)]
        return nn.Sequential(*layers, nn.ReflectionPad2d(3), nn.Conv2d(ngf, c_out, 7), nn.Tanh())

    def disc(c_in: int, ndf: int = 64) -> nn.Module:
        layers = [nn.Conv2d(c_in, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for n, stride in ((1, 2), (2, 2), (3, 1)):
            c_prev, c = ndf * min(2 ** (n - 1), 8), ndf * min(2**n, 8)
            layers += [nn.Conv2d(c_prev, c, 4, stride, 1), nn.InstanceNorm2d(c), nn.LeakyReLU(0.2, True)]
        return nn.Sequential(*layers, nn.Conv2d(ndf * 8, 1, 4, 1, 1))

    def init(net: nn.Module) -> nn.Module:
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(m.weight, 0.0, 0.02)
                nn.init.zeros_(m.bias)
        return net.to(device)

    torch.manual_seed(0)
    g_a, g_b, d_a, d_b = init(gen(3, 3)), init(gen(3, 3)), init(disc(3)), init(disc(3))
    opt_g = torch.optim.Adam(itertools.chain(g_a.parameters(), g_b.parameters()), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(itertools.chain(d_a.parameters(), d_b.parameters()), lr=2e-4, betas=(0.5, 0.999))
    pools: dict[str, list] = {"A": [], "B": []}
    mse, l1 = nn.MSELoss(), nn.L1Loss()

    def gan(pred: torch.Tensor, real: bool) -> torch.Tensor:
        return mse(pred, torch.full_like(pred, 1.0 if real else 0.0))

    def query(pool: list, images: torch.Tensor) -> torch.Tensor:
        out = []
        for img in images.detach().split(1):
            if len(pool) < 50:
                pool.append(img)
                out.append(img)
            elif random.random() > 0.5:
                i = random.randint(0, 49)
                out.append(pool[i].clone())
                pool[i] = img
            else:
                out.append(img)
        return torch.cat(out)

    def step(batch: dict) -> None:
        real_a, real_b = batch["A"].to(device), batch["B"].to(device)
        fake_b, fake_a = g_a(real_a), g_b(real_b)
        rec_a, rec_b = g_b(fake_b), g_a(fake_a)
        for p in itertools.chain(d_a.parameters(), d_b.parameters()):
            p.requires_grad_(False)
        opt_g.zero_grad()
        loss_g = (
            l1(g_a(real_b), real_b) * 5.0 + l1(g_b(real_a), real_a) * 5.0 + gan(d_a(fake_b), True)
            + gan(d_b(fake_a), True) + l1(rec_a, real_a) * 10.0 + l1(rec_b, real_b) * 10.0
        )  # fmt: skip
        loss_g.backward()
        opt_g.step()
        for p in itertools.chain(d_a.parameters(), d_b.parameters()):
            p.requires_grad_(True)
        opt_d.zero_grad()
        fb, fa = query(pools["B"], fake_b), query(pools["A"], fake_a)
        ((gan(d_a(real_b), True) + gan(d_a(fb), False)) * 0.5).backward()
        ((gan(d_b(real_a), True) + gan(d_b(fa), False)) * 0.5).backward()
        opt_d.step()

    n_params = sum(p.numel() for n in (g_a, g_b, d_a, d_b) for p in n.parameters())
    return step, n_params


def _timed(fn, cuda: bool) -> float:
    import torch

    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def _rss_gib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30


def _worker(args: argparse.Namespace) -> None:
    """Run one case in this process and print a JSON line.

    ``--impl batched`` / ``unbatched`` / ``baseline``: that step alone (its time and its own peak memory).
    ``--impl paired``: medtranslate's batched and unbatched steps and the baseline step built side by side and
    timed alternately, so that all see the same machine load.
    """
    import resource

    import torch

    torch.set_num_threads(args.threads)
    case = CASES[args.worker]
    cuda = args.device.startswith("cuda")
    steps = {}
    n_params = 0

    def trainer_step(batched: bool):
        trainer, batch, n = _build(
            case, args.device, args.amp, args.channels_last, batched, args.fused_adam, args.compile
        )
        counter = iter(range(1, 10**9))

        def run() -> None:
            trainer.state.iteration = next(counter)
            trainer._iteration(trainer, batch)

        return run, batch, n

    paired = {"paired": ("batched", "unbatched", "baseline"), "paired-quick": ("batched", "baseline")}
    wanted = paired.get(args.impl, (args.impl,))
    batch = None
    for name in wanted:
        if name == "baseline":
            continue
        steps[name], batch, n_params = trainer_step(name == "batched")
    if "baseline" in wanted:
        if batch is None:
            batch = _batch(case, 3, 3)
        baseline_step, n_params = _baseline(case, args.device)
        steps["baseline"] = lambda: baseline_step(batch)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated() / 2**30
    else:
        before = _rss_gib()
    warmup_s: dict[str, float] = {k: 0.0 for k in steps}
    for _ in range(args.warmup):
        for k, fn in steps.items():
            warmup_s[k] += _timed(fn, cuda)
    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(args.repeat):
        for k, fn in steps.items():
            times[k].append(_timed(fn, cuda))
    if cuda:
        peak = torch.cuda.max_memory_allocated() / 2**30
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB on Linux
    out = {k: {"median": statistics.median(v), "min": min(v)} for k, v in times.items()}
    if args.impl in paired:
        for k in set(wanted) - {"baseline"}:
            out[k]["speedup"] = statistics.median(b / a for a, b in zip(times[k], times["baseline"]))
    for k in out:
        out[k]["warmup_s"] = warmup_s[k]  # with --compile: the compile time is in here
    print(json.dumps({**out, "peak_gib": peak, "before_gib": before, "params": n_params}))


def main() -> None:
    """Parse options and run every case in its own process."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--amp", default="none", choices=["bf16", "fp16", "none"])
    p.add_argument("--channels-last", action="store_true", help="channels-last inputs and weights")
    p.add_argument("--cases", default=None, help=f"comma-separated, from {', '.join(CASES)}")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (the reference used 2)")
    p.add_argument("--fused-adam", action="store_true", help="torch.optim.Adam(fused=True) for medtranslate's step")
    p.add_argument("--compile", action="store_true", help="torch.compile the four networks of medtranslate's step")
    p.add_argument("--quick", action="store_true", help="paired run without medtranslate's unbatched step")
    p.add_argument("--no-baseline", action="store_true", help="skip the plain-PyTorch reference step (2D cases)")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--impl", default="batched", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        _worker(args)
        return
    cuda = args.device.startswith("cuda")
    names = (
        args.cases.split(",")
        if args.cases
        else [k for k, v in CASES.items() if not v.get("smoke") and (cuda or not v.get("gpu_only"))]
    )
    print(f"device {args.device}, amp {args.amp}, channels-last {args.channels_last}, fused Adam {args.fused_adam}, "
          f"compile {args.compile}, threads {args.threads}, median of {args.repeat} after {args.warmup} warm-up "
          "iterations")  # fmt: skip
    print(f"{'case':<12} {'run':<7} {'step':<10} {'params':>7} {'s/iter':>7} {'min':>7} {'peak GiB':>8} "
          f"{'step GiB':>8}  note")  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    for name in names:
        two_d = CASES[name]["dims"] == 2
        paired = "paired-quick" if args.quick else "paired"
        impls = ["batched"] + ([] if args.no_baseline or not two_d else ["baseline", paired])
        alone: dict[str, dict] = {}
        for impl in impls:
            cmd = [sys.executable, __file__, "--worker", name, "--impl", impl, "--device", args.device, "--amp",
                   args.amp, "--warmup", str(args.warmup), "--repeat", str(args.repeat), "--threads",
                   str(args.threads)]  # fmt: skip
            if args.channels_last:
                cmd.append("--channels-last")
            if args.fused_adam:
                cmd.append("--fused-adam")
            if args.compile:
                cmd.append("--compile")
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if proc.returncode:
                last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
                print(f"{name:<12} {impl:<7} failed: {last}")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            if not impl.startswith("paired"):
                alone[impl] = r
                t, step_mem = r[impl], r["peak_gib"] - r["before_gib"]
                note = ""
                if impl == "baseline" and "batched" in alone:
                    b = alone["batched"]
                    note = (f"memory batched / baseline: peak {b['peak_gib'] / r['peak_gib']:.2f}, step "
                            f"{(b['peak_gib'] - b['before_gib']) / step_mem:.2f} (target <= 0.8)")  # fmt: skip
                row = f"{name:<12} {'alone':<7} {impl:<10} {r['params'] / 1e6:>6.1f}M {t['median']:>7.2f}"
                print(f"{row} {t['min']:>7.2f} {r['peak_gib']:>8.2f} {step_mem:>8.2f}  {note}", flush=True)
                continue
            for key in ("batched", "unbatched", "baseline"):
                if key not in r:
                    continue
                t = r[key]
                note = f"speed vs baseline {t['speedup']:.2f}x (median of paired ratios)" if "speedup" in t else ""
                if key == "batched":
                    note += f" (target >= 1.3x); warm-up {t['warmup_s']:.0f} s"
                row = f"{name:<12} {'paired':<7} {key:<10} {'':>7} {t['median']:>7.2f} {t['min']:>7.2f}"
                print(f"{row} {'':>8} {'':>8}  {note}", flush=True)


if __name__ == "__main__":
    main()
