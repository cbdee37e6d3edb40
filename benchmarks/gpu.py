"""The GPU figures of issue 16 in one prepared run (each with its baseline measured in the same run).

1. Whole OCT stack (1024 x 512 x 512 voxels, 1 -> 3 channels) with the seed-000 generator (``oct2confocal_cyclegan3``,
   width 64) through :func:`medtranslate.inferers.translate_volume`, bf16, for a few ``sw_batch_size`` values;
   baseline: one-shot slabs of the window depth (no overlap). Target <= 10 s on one H100/H200.
2. The 2D CycleGAN iteration (resnet_9blocks + 70x70 PatchGAN, 256^2, batch 1): medtranslate's batched step in bf16
   against the reference-style step in fp32, alternating in one process. Target >= 2x.
3. The 3D 9 x 512^2 training iteration (seed-000 networks): seconds and peak memory, fp32 and bf16.
4. DDP over NCCL when more than one GPU is present (else reported as skipped).

Every figure is printed with the GPU's name and written to ``--json``. Without CUDA (``--smoke``, or no GPU) it runs
the same code at toy sizes on the CPU, to check the script itself; those numbers mean nothing.

    PYTHONPATH=. python benchmarks/gpu.py --json $OUT/gpu.json          # on the GPU machine (about 5-8 minutes)
    PYTHONPATH=. python benchmarks/gpu.py --smoke                        # CPU check of the script
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from medtranslate.inferers import translate_volume
from medtranslate.networks import resnet_generator_preset

sys.path.insert(0, str(Path(__file__).parent))
import train_step  # noqa: E402  (the paired 2D step and the 3D case of benchmarks/train_step.py)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _timed(fn, device: str) -> float:
    _sync(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t0


def whole_stack(device: str, size: tuple[int, ...], channels: int, windows: list[tuple], batches: list[int]) -> dict:
    """Figure 1: sliding windows (bf16) against non-overlapping slabs of the window depth, same process.

    Args:
        device: where the network runs.
        size: the stack's spatial size.
        channels: the generator's width.
        windows: ``(roi, overlap, stitch_device)`` per variant; the first roi's depth sets the slabs'.
        batches: ``sw_batch_size`` values tried for each variant.
    """
    torch.manual_seed(0)
    net = resnet_generator_preset("oct2confocal_cyclegan3", in_channels=1, out_channels=3, channels=channels)
    net = net.to(device).eval()
    x = torch.rand(1, *size) * 2 - 1  # on the host, as a loaded stack would be
    rows: dict[str, Any] = {}
    depth = windows[0][0][0]

    def slabs() -> None:
        with torch.inference_mode(), torch.autocast(torch.device(device).type, dtype=torch.bfloat16):
            for start in range(0, size[0], depth):
                net(x[None, :, start : start + depth].to(device)).float().cpu()

    slabs()  # warm-up (cuDNN autotuning, allocator)
    rows["slabs_bf16_s"] = _timed(slabs, device)
    print(f"  slabs_bf16_s {rows['slabs_bf16_s']:.2f}", flush=True)  # each row as it comes: a timeout keeps the rest
    for roi, overlap, stitch in windows:
        for b in batches:
            kw = dict(
                sw_batch_size=b, overlap=overlap, mode="gaussian", device=device, stitch_device=stitch, amp="bf16"
            )
            translate_volume(net, x[:, : roi[0] * 2], roi, **kw)  # warm-up
            if device.startswith("cuda"):
                torch.cuda.reset_peak_memory_stats()
            key = f"roi{'x'.join(map(str, roi))}_overlap{str(overlap).replace(' ', '')}_stitch-{stitch}_sw{b}"
            rows[f"{key}_s"] = _timed(lambda kw=kw, roi=roi: translate_volume(net, x, roi, **kw), device)
            if device.startswith("cuda"):
                rows[f"{key}_peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
            print(f"  {key}_s {rows[f'{key}_s']:.2f}", flush=True)
    rows["voxels"] = x.numel()
    return rows


def cyclegan_2d(device: str, case: str, repeat: int) -> dict:
    """Figure 2: medtranslate's batched step in bf16 against the reference-style fp32 step, alternating."""
    spec = train_step.CASES[case]
    trainer, batch, _ = train_step._build(spec, device, "bf16", True, True, device.startswith("cuda"))
    reference, _ = train_step._baseline(spec, device)
    counter = iter(range(1, 10**9))

    def ours() -> None:
        trainer.state.iteration = next(counter)
        trainer._iteration(trainer, batch)

    for _ in range(2):
        ours()
        reference(batch)
    t_ours, t_ref = [], []
    for _ in range(repeat):
        t_ours.append(_timed(ours, device))
        t_ref.append(_timed(lambda: reference(batch), device))
    return {
        "medtranslate_bf16_s": statistics.median(t_ours),
        "reference_fp32_s": statistics.median(t_ref),
        "speedup": statistics.median(r / o for o, r in zip(t_ours, t_ref)),
    }


def training_3d(device: str, case: str, repeat: int) -> dict:
    """Figure 3: the 3D CycleGAN iteration, fp32 and bf16, seconds and peak memory (each in its own process)."""
    out = {}
    for amp in ("none", "bf16"):
        cmd = [sys.executable, train_step.__file__, "--worker", case, "--impl", "batched", "--device", device]
        cmd += ["--amp", amp, "--warmup", "1", "--repeat", str(repeat), "--threads", "2"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            out[amp] = {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        out[amp] = {"s_per_iter": r["batched"]["median"], "peak_gib": r["peak_gib"]}
    return out


def ddp(device: str) -> dict:
    """Figure 4: DDP over NCCL needs two or more GPUs; with one it is reported as skipped."""
    n = torch.cuda.device_count() if device.startswith("cuda") else 0
    if n < 2:
        return {"skipped": f"{n} GPU(s): DDP needs two or more"}
    return {"gpus": n, "todo": "run bundles/*/configs/multi_gpu_train.json under torchrun --nproc_per_node N"}


def main(argv: list[str] | None = None) -> int:
    """Run the four figures and print them.

    Args:
        argv: command-line arguments.
    """
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="toy sizes on the CPU (checks the script only)")
    p.add_argument("--json", default=None, help="write the figures here")
    p.add_argument("--only", default="stack,2d,3d,ddp", help="comma-separated subset of stack, 2d, 3d, ddp")
    a = p.parse_args(argv)
    cuda = torch.cuda.is_available() and not a.smoke
    device = "cuda" if cuda else "cpu"
    name = torch.cuda.get_device_name(0) if cuda else "CPU (smoke run: toy sizes, numbers mean nothing)"
    if cuda:
        torch.backends.cudnn.benchmark = True
    only = set(a.only.split(","))
    res: dict[str, Any] = {"device": name, "torch": torch.__version__}
    print(f"device: {name}; torch {torch.__version__}", flush=True)
    if "stack" in only:
        if cuda:
            windows = [
                ((9, 256, 256), 0.25, "cpu"),
                ((9, 256, 256), 0.25, "cuda"),
                ((9, 512, 512), (0.25, 0, 0), "cuda"),
            ]
            res["stack"] = whole_stack(device, (1024, 512, 512), 64, windows, [4, 8])
        else:
            windows = [((9, 32, 32), 0.25, "cpu"), ((9, 48, 48), (0.25, 0, 0), "cpu")]
            res["stack"] = whole_stack(device, (18, 48, 48), 4, windows, [1, 2])
        print("whole stack:", json.dumps(res["stack"]), "(target <= 10 s)", flush=True)
    if "2d" in only:
        res["cyclegan_2d"] = cyclegan_2d(device, "2d-256-b1" if cuda else "2d-32-b1", 10 if cuda else 1)
        print("2D CycleGAN iteration:", json.dumps(res["cyclegan_2d"]), "(target speedup >= 2)", flush=True)
    if "3d" in only and cuda:
        res["training_3d"] = training_3d(device, "3d-9x512-b1", 3)
        print("3D 9x512^2 iteration:", json.dumps(res["training_3d"]), flush=True)
    if "ddp" in only:
        res["ddp"] = ddp(device)
        print("DDP:", json.dumps(res["ddp"])[:500], flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
