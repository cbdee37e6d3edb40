"""Choose the sliding-window defaults by measurement: throughput against one-shot, and seams, per setting.

One process builds the seed-000 3D generator (``oct2confocal_cyclegan3``, reduced width on CPU) and one synthetic
OCT-like stack, then times, alternately, the whole stack in one forward pass (one-shot, the baseline) and each
sliding-window setting, so both see the same machine load; the figure is the median of the paired ratios
``one-shot seconds / setting seconds`` (target >= 0.6) together with the seam ratio
(:func:`medtranslate.inferers.seam_score`: about 1 = no visible seam; the one-shot output scored on the same window
borders gives the noise floor).

Settings: overlap (0.25 as in ganslate, 0.5), blending (gaussian, constant), ``sw_batch_size`` (1, 4), window depth
(9 as trained, or the whole stack: then no window border along depth), fp32 / bf16 autocast and channels-last-3d.

    PYTHONPATH=. .venv/bin/python benchmarks/inference_sweep.py [--size 18 128 128] [--channels 8] [--repeat 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from medtranslate.inferers import seam_score, translate_volume
from medtranslate.networks import resnet_generator_preset

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from translate import _volume  # noqa: E402  (the same synthetic stack as benchmarks/translate.py)


def _settings(depth: int, amp_native: str) -> list[dict]:
    fp32 = {"amp": None, "cl": False}
    out = [
        {"roi_d": 9, "overlap": 0.5, "mode": "gaussian", "sw": 4, **fp32},  # the earlier default
        {"roi_d": 9, "overlap": 0.25, "mode": "gaussian", "sw": 4, **fp32},  # ganslate's choice
        {"roi_d": 9, "overlap": 0.25, "mode": "constant", "sw": 4, **fp32},
        {"roi_d": depth, "overlap": 0.25, "mode": "gaussian", "sw": 1, **fp32},  # whole depth: no depth border
        {"roi_d": depth, "overlap": 0.25, "mode": "gaussian", "sw": 4, **fp32},
    ]
    best = {"roi_d": depth, "overlap": 0.25, "mode": "gaussian", "sw": 4}
    out.append({**best, "amp": amp_native, "cl": False})
    out.append({**best, "amp": None, "cl": True})
    out.append({**best, "overlap": 0.125, "amp": amp_native, "cl": False})  # less overlap: fewer windows
    out.append({**best, "hw": (-1, 64), "amp": amp_native, "cl": False})  # whole rows: borders along W only
    return out


def _oneshot(net: torch.nn.Module, x: torch.Tensor, amp: str | None) -> torch.Tensor:
    dtype = torch.bfloat16 if amp == "bf16" else None
    with torch.inference_mode(), torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
        return net(x[None])[0].float()


def main(argv: list[str] | None = None) -> int:
    """Run the sweep and print the table.

    Args:
        argv: command-line arguments.
    """
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, nargs=3, default=[18, 128, 128], metavar=("D", "H", "W"))
    p.add_argument("--roi-hw", type=int, nargs=2, default=[64, 64], help="in-plane window size")
    p.add_argument("--channels", type=int, default=8, help="generator base channels (paper: 64)")
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--start", type=int, default=0, help="skip the first settings (resume a sweep)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    net = resnet_generator_preset("oct2confocal_cyclegan3", in_channels=1, out_channels=3, channels=a.channels).eval()
    x = _volume(a.size, seed=1)
    ref = _oneshot(net, x, None)
    print(
        f"volume {tuple(a.size)} 1 -> 3 channels, oct2confocal_cyclegan3 width {a.channels}, in-plane window "
        f"{tuple(a.roi_hw)}, {a.threads} threads, median of {a.repeat} paired runs (one-shot then setting)"
    )
    head = (
        f"{'window':<12} {'overlap':>7} {'blend':<9} {'sw_b':>4} {'amp':<5} {'c-last':<6} {'s':>7} {'one-shot s':>10} "
        f"{'speed/1-shot':>12} {'seams':>6} {'floor':>6} {'max |d| vs 1-shot':>17}"
    )
    print(head)
    print("-" * len(head))
    settings = _settings(a.size[0], "bf16")
    for s in settings[a.start :]:
        hw = [a.size[1 + i] if r < 0 else r for i, r in enumerate(s.get("hw", a.roi_hw))]
        roi = (s["roi_d"], *hw)
        model = net.to(memory_format=torch.channels_last_3d) if s["cl"] else net  # windows: MONAI's layout
        vol = x
        ratios, times, shots = [], [], []
        y = None
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            _oneshot(model, vol, s["amp"])
            t_one = time.perf_counter() - t0
            t0 = time.perf_counter()
            y = translate_volume(
                model, vol, roi, sw_batch_size=s["sw"], overlap=s["overlap"], mode=s["mode"], amp=s["amp"]
            )
            t_win = time.perf_counter() - t0
            ratios.append(t_one / t_win)
            times.append(t_win)
            shots.append(t_one)
        net.to(memory_format=torch.contiguous_format)
        seams = seam_score(y, roi, s["overlap"], interior_margin=2).ratio
        floor = seam_score(ref, roi, s["overlap"], interior_margin=2).ratio
        window = "x".join(str(r) for r in roi)
        print(
            f"{window:<12} {s['overlap']:>7.2f} {s['mode']:<9} {s['sw']:>4} {s['amp'] or 'fp32':<5} "
            f"{'yes' if s['cl'] else 'no':<6} {statistics.median(times):>7.2f} {statistics.median(shots):>10.2f} "
            f"{statistics.median(ratios):>12.2f} {seams:>6.2f} {floor:>6.2f} {float((y - ref).abs().max()):>17.3f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
