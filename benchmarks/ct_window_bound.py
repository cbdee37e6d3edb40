"""How much of the paired MR a CT window lets any pointwise translation recover (the demo's ct2mri phantoms).

For each HU window, the best intensity look-up table CT -> MR is fitted on the *paired* training phantoms (mean MR of
every windowed-CT bin) and applied to the test CT; its SSIM against the test MR (the demo's metric: slice-wise, on
foreground slices, both in [-1, 1]) bounds what a network that maps each pixel's windowed value alone can score. A
second column fits the table on CT smoothed by a 1-pixel Gaussian (a little spatial context against the 4 HU noise).
The identity baseline (the windowed CT itself) is printed beside it. A CycleGAN sees more (its receptive field) but
learns unpaired, so this is a guide to what a window keeps, not a bound on the network.

    .venv/bin/python benchmarks/ct_window_bound.py [--windows=-160:240,0:80,-1000:2000] [--bins 128] [--seed 0]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from scipy import ndimage

from medtranslate.cli.demo import FULL
from medtranslate.data import datalist_split
from medtranslate.data.samples import write_sample_dataset
from medtranslate.io import load_image
from medtranslate.metrics.structure import foreground_slices, paired_ssim
from medtranslate.transforms import HUWindow, PercentileNormalize


def _pairs(datalist: Path, split: str, window: list[float]) -> list[tuple[torch.Tensor, torch.Tensor, list[int]]]:
    out = []
    for pair in datalist_split(datalist, split, "pairs"):
        ct = torch.as_tensor(HUWindow(window)(load_image(pair["a"]))).float()
        mr = torch.as_tensor(PercentileNormalize(1.0, 99.0)(load_image(pair["b"]))).float()
        out.append((ct, mr, foreground_slices(ct, slice_axis=2)))
    return out


def window_bound(datalist: Path, window: list[float], bins: int = 128, sigma: float = 0.0) -> dict[str, float]:
    """SSIM against the test MR of the best pointwise CT -> MR look-up table, and of the windowed CT itself.

    Args:
        datalist: a sample ``ct_mr`` datalist (paired training and test phantoms).
        window: ``(low, high)`` in HU.
        bins: look-up table entries over [-1, 1].
        sigma: in-plane Gaussian smoothing of the CT (pixels) before the look-up; 0 for none.

    Returns:
        ``{"lut_ssim": ..., "identity_ssim": ...}``, means over the test phantoms.
    """

    def index(ct: torch.Tensor) -> torch.Tensor:
        if sigma:
            ct = torch.as_tensor(ndimage.gaussian_filter(ct.numpy(), (0, sigma, sigma, 0)))
        return torch.clamp(((ct + 1) / 2 * (bins - 1)).round(), 0, bins - 1).long()

    total, count = torch.zeros(bins), torch.zeros(bins)
    for ct, mr, _ in _pairs(datalist, "training", window):
        b = index(ct).flatten()
        total.index_add_(0, b, mr.flatten())
        count.index_add_(0, b, torch.ones(b.numel()))
    lut = total / count.clamp(min=1)
    test = _pairs(datalist, "test", window)
    lut_ssim = [paired_ssim(lut[index(ct)], mr, slice_axis=2, keep=k) for ct, mr, k in test]
    identity = [paired_ssim(ct, mr, slice_axis=2, keep=k) for ct, mr, k in test]
    return {"lut_ssim": sum(lut_ssim) / len(test), "identity_ssim": sum(identity) / len(test)}


def main() -> None:
    """Parse the options, write the demo's phantoms, print one row per window."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--windows", default="-160:240,0:80,-120:120,-1000:2000", help="low:high in HU, comma-separated"
    )
    parser.add_argument("--bins", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n, shape = FULL["ct_mr"]
    datalist = write_sample_dataset(
        Path(tempfile.mkdtemp(prefix="ct_window_")), "ct_mr", n=n, seed=args.seed, shape=shape
    )
    print("window (HU)     identity SSIM  LUT SSIM  LUT SSIM (1 px smoothing)")
    for text in args.windows.split(","):
        window = [float(v) for v in text.split(":")]
        plain = window_bound(datalist, window, args.bins)
        smooth = window_bound(datalist, window, args.bins, sigma=1.0)
        print(f"{text:15s} {plain['identity_ssim']:<14.3f} {plain['lut_ssim']:<9.3f} {smooth['lut_ssim']:.3f}")


if __name__ == "__main__":
    main()
