"""Benchmark the fundus_synthesis bundle (seed 004): each stage's training step time and synthesis throughput.

Builds the three networks from the bundle's configs (``--size`` is the generator size; the paper's is 512, the
upscaled output twice that), then times, in this process with the same thread count:

- one optimiser step of each stage on random data (VAE: a batch of vessel maps; pix2pix: generator + conditional
  PatchGAN; EDSR: a batch of low-resolution patches), fp32 and bf16 autocast, median of ``--repeat``;
- ``FundusSynthesisWorkflow.generate`` (VAE decode, deconvolution, pix2pix, EDSR) in pairs per second, with the
  deconvolution alone beside it (the CPU-bound step that no accelerator speeds up).

Baselines printed in the same run: the fp32 step beside the bf16 one, and the deconvolution's share of a pair.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/fundus_synthesis.py [--size 128] [--repeat 3] [--full]

``--full`` keeps the paper's widths (64-channel U-Net with 8 downsamplings, EDSR-baseline 64 x 16); the default
shrinks the networks so that the run takes seconds on a laptop CPU.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from monai.bundle import ConfigParser
from timing import median_seconds  # benchmarks/timing.py: this script runs from benchmarks/

from medtranslate.losses import VAELoss
from medtranslate.networks import PatchDiscriminator
from medtranslate.transforms import VesselDeconvolution
from medtranslate.utils.amp import autocast, resolve_amp
from medtranslate.workflows import FundusSynthesisWorkflow

CONFIGS = Path(__file__).resolve().parents[1] / "bundles" / "fundus_synthesis" / "configs"
SMALL = {
    "vae_channels": [8, 16, 32, 64, 64],
    "vae_strides": [2, 2, 2, 2, 2],
    "vae_latent_size": 64,
    "vae_res_units": 1,
    "gen_channels": 16,
    "gen_num_downs": 6,
    "edsr_channels": 32,
    "edsr_res_blocks": 4,
}


def _networks(size: int, full: bool):
    p = ConfigParser()
    p.read_config(str(CONFIGS / "synthesize.json"))
    p["image_size"] = [size, size]
    if not full:
        for k, v in SMALL.items():
            p[k] = v
    return p.get_parsed_content("vae_def"), p.get_parsed_content("generator_def"), p.get_parsed_content("edsr_def")


def main() -> None:
    """Parse the options and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128, help="generator size (paper: 512)")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pairs", type=int, default=4)
    ap.add_argument("--full", action="store_true", help="the paper's network widths")
    args = ap.parse_args()
    torch.manual_seed(0)
    s, b = args.size, args.batch
    vae, gen, edsr = _networks(s, args.full)
    disc = PatchDiscriminator(2, 4, channels=64 if args.full else 16, num_layers=3 if args.full else 2)
    vmap = (torch.rand(b, 1, s, s) > 0.9).float()
    fundus = torch.rand(b, 3, s, s) * 2 - 1
    hr = torch.rand(b, 3, 96, 96) * 2 - 1
    lr = torch.nn.functional.avg_pool2d(hr, 2)
    opt = {
        n: torch.optim.Adam(m.parameters(), 1e-4)
        for n, m in (("vae", vae), ("gen", gen), ("disc", disc), ("edsr", edsr))
    }
    vae_loss, l1 = VAELoss(reconstruction="bce"), torch.nn.L1Loss()
    bce = torch.nn.BCEWithLogitsLoss()

    def vae_step(dtype):
        opt["vae"].zero_grad()
        with autocast("cpu", dtype):
            loss = vae_loss(vae(vmap), vmap)
        loss.backward()
        opt["vae"].step()

    def pix2pix_step(dtype):  # the order of Pix2PixTrainer._train_step: D on real/fake pairs, then G
        a = vmap * 2 - 1
        opt["gen"].zero_grad()
        opt["disc"].zero_grad()
        with autocast("cpu", dtype):
            fake = gen(a)
            real_logits = disc(torch.cat((a, fundus), 1))
            fake_logits = disc(torch.cat((a, fake.detach()), 1))
            d_loss = 0.5 * (
                bce(real_logits.float(), torch.ones_like(real_logits.float()))
                + bce(fake_logits.float(), torch.zeros_like(fake_logits.float()))
            )
        d_loss.backward()
        opt["disc"].step()
        with autocast("cpu", dtype):
            g_logits = disc(torch.cat((a, fake), 1))
            g_loss = bce(g_logits.float(), torch.ones_like(g_logits.float())) + 100 * l1(fake.float(), fundus)
        g_loss.backward()
        opt["gen"].step()

    def edsr_step(dtype):
        opt["edsr"].zero_grad()
        with autocast("cpu", dtype):
            loss = l1(edsr(lr).float(), hr)
        loss.backward()
        opt["edsr"].step()

    print(
        f"fundus_synthesis benchmark: generator size {s}, batch {b}, threads {torch.get_num_threads()}, "
        f"{'paper widths' if args.full else 'small widths'}"
    )
    print(f"{'training step (median of ' + str(args.repeat) + ')':40s} {'fp32 (baseline)':>16s} {'bf16 autocast':>14s}")
    for name, step in (("VAE", vae_step), ("pix2pix (G + D)", pix2pix_step), ("EDSR x2 (96px HR patches)", edsr_step)):
        t32 = median_seconds(lambda step=step: step(None), 1, args.repeat)
        t16 = median_seconds(lambda step=step: step(resolve_amp("bf16")), 1, args.repeat)
        print(f"{name:40s} {t32 * 1000:13.1f} ms {t16 * 1000:11.1f} ms")
    wf = FundusSynthesisWorkflow(vae, gen, edsr, None, "/nonexistent", num=args.pairs, batch_size=args.pairs)
    for net in (vae, gen, edsr):
        net.eval()
    z = torch.randn(args.pairs, vae.latent_size)
    t = median_seconds(lambda: wf.generate(z), 1, args.repeat)
    probs = torch.rand(args.pairs, 1, s, s)
    deconv = VesselDeconvolution()
    td = median_seconds(lambda: [deconv(p) for p in probs], 1, args.repeat)
    print(
        f"synthesis ({args.pairs} pairs, {s} -> {2 * s}): {args.pairs / t:.2f} pairs/s "
        f"({t / args.pairs * 1000:.0f} ms per pair, of which deconvolution {td / args.pairs * 1000:.0f} ms)"
    )


if __name__ == "__main__":
    main()
