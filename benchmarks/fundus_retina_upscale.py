"""Real-photograph check of the fundus_synthesis x2 upscaler: scikit-image's retina.jpg against bicubic.

``skimage.data.retina()`` (a real colour fundus photograph, 1411 x 1411, shipped with scikit-image) is cropped to an
even size and box-downscaled x2 (the degradation the EDSR stage is trained on); the half-size image goes through
``medtranslate translate --bundle bundles/fundus_synthesis --direction upscale`` and the result is compared with the
original, beside bicubic interpolation of the same half-size image (the baseline), by PSNR and SSIM on 0..255:

    .venv/bin/python benchmarks/fundus_retina_upscale.py --checkpoint DEMO/fundus_synthesis/train \\
        [--set edsr_channels=24 --set edsr_res_blocks=3] [--output /tmp/retina_x2]

The ``--set`` options must match the trained network (the demo's are 24 channels, 3 blocks).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from skimage import data

from medtranslate.cli.main import main as medtranslate
from medtranslate.metrics import psnr, ssim
from medtranslate.transforms import downscale, upscale_interpolated

BUNDLE = Path(__file__).resolve().parents[1] / "bundles" / "fundus_synthesis"


def main() -> None:
    """Run the check and print PSNR / SSIM of EDSR and bicubic."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", required=True, help="training output folder (holding edsr/) or EDSR checkpoint")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="network keys of the checkpoint")
    ap.add_argument("--output", type=Path, default=None, help="folder for the images (default: a temporary one)")
    args = ap.parse_args()
    out = args.output or Path(tempfile.mkdtemp(prefix="retina_x2_"))
    rgb = data.retina()
    h, w = (s - s % 2 for s in rgb.shape[:2])
    hr = torch.from_numpy(np.array(rgb[:h, :w])).permute(2, 0, 1).float()  # (3, H, W) in 0..255
    lr = downscale(hr, 2).round().clamp(0, 255)
    (out / "input").mkdir(parents=True, exist_ok=True)
    Image.fromarray(lr.permute(1, 2, 0).to(torch.uint8).numpy()).save(out / "input" / "retina_half.png")
    sets = [a for s in args.set for a in ("--set", s)]
    rc = medtranslate(
        [
            "-q",
            "translate",
            "--bundle",
            str(BUNDLE),
            "--direction",
            "upscale",
            "--checkpoint",
            args.checkpoint,
            "--input",
            str(out / "input"),
            "--output",
            str(out / "edsr"),
            "--format",
            "png",
            *sets,
        ]
    )
    if rc != 0:
        raise SystemExit(f"translate failed with exit status {rc}")
    sr = torch.from_numpy(np.array(Image.open(out / "edsr" / "retina_half.png"))).permute(2, 0, 1).float()
    bicubic = upscale_interpolated(lr, 2).round().clamp(0, 255)
    print(f"retina.jpg {w}x{h}, x2 from {w // 2}x{h // 2} (box-downscaled); metrics on 0..255 against the original")
    for name, x in (("bicubic (baseline)", bicubic), ("EDSR x2 (fundus_synthesis)", sr)):
        p = float(psnr(x[None], hr[None], 2, 255.0)[0])
        s = float(ssim(x[None], hr[None], 2, 255.0)[0])
        print(f"  {name:28s} PSNR {p:6.2f} dB   SSIM {s:.4f}")
    print(f"images in {out}")


if __name__ == "__main__":
    main()
