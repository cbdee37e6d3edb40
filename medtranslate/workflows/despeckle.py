"""Scoring a despeckling network as seed 001's Table 1: PSNR and SSIM of noisy, despeckled, despeckled + 3x3 median,
and the 3x3-median-only baseline the network has to beat, on clean images with seeded speckle draws.

Clean images come from a datalist split (grayscale, already bright tissue) or from image files (colour is turned to
grayscale and, with ``invert``, inverted so tissue is bright as in RCM: how the seed prepared its histology). Each
image gets ``draws`` independent speckle fields ``Y = X (1 + F)`` from :class:`~medtranslate.transforms.RandSpeckle`
seeded by ``seed``, so runs are reproducible and comparable across checkpoints.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.networks.layers import MedianFilter
from torch import nn

from medtranslate.data.datalist import datalist_split
from medtranslate.errors import ConfigError, InputError
from medtranslate.io import load_image
from medtranslate.metrics.panels import save_panels
from medtranslate.metrics.similarity import psnr, ssim
from medtranslate.transforms.speckle import RandSpeckle
from medtranslate.utils.atomic import atomic_path
from medtranslate.workflows.weights import load_checkpoint_network

__all__ = ["DespeckleEvaluation", "load_gray", "METHODS", "PAPER_TABLE1"]

logger = logging.getLogger(__name__)

#: the rows of the report, in order.
METHODS = ("noisy", "median 3x3 only", "despeckled", "despeckled + median 3x3")
#: seed 001, Table 1 (artificial speckle on 1,748 histology images).
PAPER_TABLE1 = {"noisy": {"PSNR": 16.19, "SSIM": 0.438}, "despeckled": {"PSNR": 23.97, "SSIM": 0.727}}
_GRAY = torch.tensor([0.2125, 0.7154, 0.0721])  # skimage.color.rgb2gray weights


def load_gray(path: str | os.PathLike, invert: bool = False) -> torch.Tensor:
    """Load an image as ``(1, X, Y)`` grayscale in [0, 1] (colour -> luminance, min-max over the dtype's range).

    Args:
        path: a PNG/TIFF/... file medtranslate reads.
        invert: ``1 - gray`` (bright-field histology -> tissue bright, as in RCM).

    Returns:
        float32 tensor.

    Raises:
        InputError: for a 3D image or one with neither 1 nor 3 channels.
    """
    img = load_image(path)
    t = img.as_tensor().float() if hasattr(img, "as_tensor") else torch.as_tensor(np.asarray(img)).float()
    if t.ndim != 3:
        raise InputError(path, f"is not a 2D image (shape {tuple(t.shape[1:])})")
    if t.shape[0] in (3, 4):
        t = (t[:3] * _GRAY.view(3, 1, 1)).sum(0, keepdim=True)
    elif t.shape[0] != 1:
        raise InputError(path, f"has {t.shape[0]} channels; give grayscale or RGB images")
    top = 255.0 if float(t.max()) <= 255 else (65535.0 if float(t.max()) <= 65535 else float(t.max()))
    t = (t / (1.0 if float(t.max()) <= 1.0 else top)).clamp(0, 1)
    return 1.0 - t if invert else t


class DespeckleEvaluation:
    """Evaluate a despeckling network on clean images with artificial speckle (see the module docstring).

    Args:
        network: the despeckling network (e.g. :class:`~medtranslate.networks.DespeckleNet` without its median
            filter; the median is applied here so both columns come from one forward pass).
        output_dir: where ``metrics.json``, ``metrics.md`` and ``figure.png`` go.
        checkpoint: trainer checkpoint (file or folder) to load ``network_key`` from; ``None`` uses the network as is.
        network_key: the network's key in the checkpoint.
        datalist: datalist whose ``split`` / ``domain`` items (key ``image``) are the clean images.
        split: datalist split.
        domain: datalist domain.
        images: image files to use instead of (or beside) the datalist.
        invert: invert ``images`` (not datalist items, which are stored bright-tissue already).
        looks: gamma speckle looks (variance ``1/looks``).
        distribution: ``"gamma"`` or ``"rayleigh"``.
        draws: speckle draws per image.
        seed: seed of the draws.
        crop: centre crop to at most this size (keeps the run short on big images); ``None`` keeps all.
        device: where the network runs.
        reference: the paper's figures, printed beside ours.
        title: report title.

    Raises:
        ConfigError: when no image is given.
    """

    def __init__(
        self,
        network: nn.Module,
        output_dir: str | os.PathLike,
        checkpoint: str | os.PathLike | None = None,
        network_key: str = "network",
        datalist: Any = None,
        split: str = "validation",
        domain: str = "domain_a",
        images: Sequence[str | os.PathLike] = (),
        invert: bool = False,
        looks: float = 1.0,
        distribution: str = "gamma",
        draws: int = 2,
        seed: int = 0,
        crop: int | None = 512,
        device: str | torch.device = "cpu",
        reference: dict[str, Any] | None = None,
        title: str = "confocal2he despeckling (seed 001, Table 1)",
    ) -> None:
        self.network, self.output_dir = network, Path(output_dir)
        self.checkpoint = None if checkpoint in (None, "") else Path(checkpoint)
        self.network_key = network_key
        self.datalist, self.split, self.domain = datalist, split, domain
        self.images, self.invert = [Path(p) for p in images], bool(invert)
        self.looks, self.distribution, self.draws, self.seed = looks, distribution, int(draws), int(seed)
        self.crop = None if crop in (None, 0) else int(crop)
        self.device = torch.device(device)
        self.reference = PAPER_TABLE1 if reference is None else reference
        self.title = title
        self.results: dict[str, Any] = {}
        self.failed: list[str] = []
        if datalist is None and not self.images:
            raise ConfigError(None, "give a datalist or images to evaluate the despeckling network on")

    @property
    def report_paths(self) -> list[Path]:
        """The written report files (after :meth:`run`)."""
        names = ("metrics.md", "metrics.json", "figure.png")
        return [self.output_dir / n for n in names if (self.output_dir / n).exists()] if self.results else []

    def _clean_images(self) -> list[tuple[str, torch.Tensor]]:
        out = []
        if self.datalist is not None:
            for item in datalist_split(self.datalist, self.split, self.domain):
                out.append((str(item["image"]), load_gray(item["image"])))
        out += [(str(p), load_gray(p, self.invert)) for p in self.images]
        if self.crop:
            cropped = []
            for name, t in out:
                h, w = t.shape[1:]
                y, x = max(0, (h - self.crop) // 2), max(0, (w - self.crop) // 2)
                cropped.append((name, t[:, y : y + self.crop, x : x + self.crop]))
            out = cropped
        return out

    @torch.inference_mode()
    def run(self) -> dict[str, Any]:
        """Score every image and write the report.

        Returns:
            ``{method: {"PSNR": mean, "SSIM": mean, "n": count}}`` plus ``"gain"`` (dB and SSIM over noisy and over
            the median-only baseline) and ``"reference"``.
        """
        if self.checkpoint is not None:
            load_checkpoint_network(self.network, self.checkpoint, self.network_key)
        net = self.network.to(self.device).eval()
        median = MedianFilter(1, spatial_dims=2)
        speckle = RandSpeckle(distribution=self.distribution, looks=self.looks)
        speckle.set_random_state(self.seed)
        scores: dict[str, dict[str, list[float]]] = {m: {"PSNR": [], "SSIM": []} for m in METHODS}
        example = None
        for name, clean in self._clean_images():
            for _ in range(self.draws):
                noisy = speckle(clean)
                x = noisy[None].to(self.device)
                out = net(x).float().clamp(0, 1).cpu()[0]
                preds = {
                    "noisy": noisy,
                    "median 3x3 only": median(noisy[None])[0],
                    "despeckled": out,
                    "despeckled + median 3x3": median(out[None])[0],
                }
                for method, pred in preds.items():
                    scores[method]["PSNR"].append(float(psnr(pred, clean, spatial_dims=2, data_range=1.0)))
                    scores[method]["SSIM"].append(float(ssim(pred, clean, spatial_dims=2, data_range=1.0)))
                if example is None:
                    example = (name, clean, preds)
        results: dict[str, Any] = {
            m: {k: float(np.mean(v)) for k, v in s.items()} | {"n": len(s["PSNR"])} for m, s in scores.items()
        }
        best = results["despeckled + median 3x3"]
        results["gain"] = {
            "PSNR dB over noisy": best["PSNR"] - results["noisy"]["PSNR"],
            "PSNR dB over median only": best["PSNR"] - results["median 3x3 only"]["PSNR"],
            "SSIM over noisy": best["SSIM"] - results["noisy"]["SSIM"],
            "SSIM over median only": best["SSIM"] - results["median 3x3 only"]["SSIM"],
        }
        results["reference"] = self.reference
        results["speckle"] = {"distribution": self.distribution, "looks": self.looks, "draws": self.draws}
        self.results = results
        self._write(results, example)
        return results

    def _write(self, results: dict[str, Any], example: Any) -> None:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.output_dir / "metrics.json") as tmp:
            tmp.write_text(json.dumps({"title": self.title, "results": results}, indent=2) + "\n")
        lines = [f"# {self.title}", "", "| method | PSNR (dB) | SSIM | n |", "|---|---|---|---|"]
        for m in METHODS:
            r = results[m]
            lines.append(f"| {m} | {r['PSNR']:.2f} | {r['SSIM']:.3f} | {r['n']} |")
        for m, r in self.reference.items():
            lines.append(f"| paper: {m} | {r['PSNR']:.2f} | {r['SSIM']:.3f} | |")
        sp = results["speckle"]
        lines += [
            "",
            f"Speckle: {sp['distribution']}, L = {sp['looks']}, {sp['draws']} draw(s) per image, seed {self.seed}.",
        ]
        with atomic_path(self.output_dir / "metrics.md") as tmp:
            tmp.write_text("\n".join(lines) + "\n")
        if example is not None:
            _, clean, preds = example
            panels = [clean] + [preds[m] for m in METHODS]
            save_panels([p[0].numpy() for p in panels], self.output_dir / "figure.png", titles=["clean", *METHODS])
