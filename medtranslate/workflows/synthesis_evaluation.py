"""Evaluation of the fundus_synthesis bundle (``medtranslate evaluate --bundle bundles/fundus_synthesis``).

:class:`SynthesisEvaluation` is the ``evaluator`` of the bundle's ``evaluate.json``. The generic
:class:`~medtranslate.workflows.EvaluationWorkflow` translates the inputs of a datalist; a generative pipeline has no
input per output, so the protocol of seed 004 lives here, built from the same metric functions:

- **VAE reconstruction** of the real vessel maps (posterior mean, threshold 0.5): Dice and pixel accuracy;
- **vessel statistics** (:func:`~medtranslate.metrics.vessels.summarize_statistics`) of the real maps and of
  ``num_generated`` prior samples, with and without deconvolution (the effect of the denoising step);
- **the paper's SSIM protocol** (:func:`~medtranslate.metrics.vessels.reference_ssim`): generated vessel maps and
  fundus images against ONE real reference (``reference_index`` of the training pairs), beside the real images
  against the same reference (seed 004: 0.74 for generated vessel maps, 0.78 for real ones);
- **FID / KID** of the generated fundus images against the real ones (local Inception, nothing downloaded; skipped with
  a note when the network file is missing);
- **super-resolution** on the held-out (``test``) fundus images, read at ``scale`` x ``image_size`` (area resizing,
  never upsampled): PSNR / SSIM of EDSR x2 and of bicubic interpolation from the same box-downscaled input, against
  that image. Files smaller than ``scale`` x ``image_size`` would make the reference itself an interpolation.

``metrics.json`` / ``metrics.md`` (the generic report) get a section with the paper's numbers beside ours, and
``figure_synthesis.png`` shows sampled vessels | denoised | fundus | fundus x2 | a real image.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from medtranslate.data.datalist import datalist_split
from medtranslate.errors import InputError
from medtranslate.io import load_image
from medtranslate.metrics import (
    InceptionFeatureExtractor,
    fid_kid,
    psnr,
    reference_ssim,
    save_image_grid,
    ssim,
    summarize_statistics,
    write_report,
)
from medtranslate.metrics.features import default_inception_path
from medtranslate.transforms.resolution import downscale, upscale_interpolated
from medtranslate.transforms.vessels import VesselDeconvolution
from medtranslate.utils.atomic import atomic_path
from medtranslate.workflows.synthesis import FundusSynthesisWorkflow

__all__ = ["SynthesisEvaluation", "PAPER"]

logger = logging.getLogger(__name__)

#: seed 004's numbers (Table 1 and the text).
PAPER = {
    "SSIM generated vessel maps vs reference": 0.74,
    "SSIM real vessel maps vs reference": 0.78,
    "SSIM vessel maps of the public synthetic set [9] vs reference": 0.64,
}


def _resize(x: torch.Tensor, size: Sequence[int], mode: str) -> torch.Tensor:
    if tuple(x.shape[1:]) == tuple(size):
        return x
    kwargs = {} if mode in ("nearest", "area") else {"align_corners": False}
    return F.interpolate(x[None], size=tuple(size), mode=mode, **kwargs)[0]


def _load(path: str, size: Sequence[int], mode: str, channels: int) -> torch.Tensor:
    img = load_image(path)
    x = torch.as_tensor(np.asarray(img), dtype=torch.float32)
    if x.ndim != 3 or x.shape[0] != channels:
        raise InputError(path, f"expected a 2D image with {channels} channel(s), got shape {tuple(x.shape)}")
    return _resize(x, size, mode)


def _dice(a: torch.Tensor, b: torch.Tensor) -> float:
    inter = float((a & b).sum())
    total = float(a.sum() + b.sum())
    return 2 * inter / total if total else 1.0


def _t(x: torch.Tensor) -> np.ndarray:
    """``(C, X, Y)`` -> ``(C, Y, X)`` for display (row 0 at the top)."""
    return np.swapaxes(np.asarray(x), -1, -2)


class SynthesisEvaluation:
    """Seed 004's evaluation of the synthesis pipeline (see the module docstring).

    Args:
        synthesizer: the pipeline (its networks, checkpoint and deconvolution are used; its output folder is not).
        datalist: datalist with ``training.pairs`` (vessel map, fundus) and ideally ``test.pairs`` (held out).
        output_dir: where the report and the figure go.
        image_size: the generator's size (real images are resized to it).
        scale: the upscaler's factor.
        num_generated: generated pairs (20 in the paper).
        reference_index: the training pair used as the single SSIM reference.
        seed: seed of the latent codes.
        fid: compute FID / KID (needs the local Inception file).
        figure_rows: rows of the figure.
    """

    def __init__(
        self,
        synthesizer: FundusSynthesisWorkflow,
        datalist: str | os.PathLike,
        output_dir: str | os.PathLike,
        image_size: Sequence[int] = (512, 512),
        scale: int = 2,
        num_generated: int = 20,
        reference_index: int = 0,
        seed: int = 0,
        fid: bool = True,
        figure_rows: int = 3,
    ) -> None:
        self.synthesizer = synthesizer
        self.datalist = Path(datalist)
        self.output_dir = Path(output_dir)
        self.image_size = tuple(int(s) for s in image_size)
        self.scale = int(scale)
        self.num_generated = int(num_generated)
        self.reference_index = int(reference_index)
        self.seed = int(seed)
        self.fid = bool(fid)
        self.figure_rows = int(figure_rows)
        self.results: dict[str, Any] = {}
        self.report_paths: list[Path] = []
        self.failed: list[str] = []

    def _real(self, split: str, scale: int = 1) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        pairs = datalist_split(self.datalist, split, "pairs", missing_ok=split != "training")
        size = [s * scale for s in self.image_size]
        vessels = [(_load(p["a"], size, "nearest", 1) > 0).float() for p in pairs]
        fundus = [_load(p["b"], size, "area", 3) / 255.0 for p in pairs]
        return vessels, fundus

    def _reconstruction(self, vessels: list[torch.Tensor]) -> dict[str, Any]:
        vae = self.synthesizer.vae
        dice, acc = [], []
        with torch.inference_mode():
            for v in vessels:
                rec = vae(v[None].to(self.synthesizer.device))[0].float().cpu()
                prob = torch.sigmoid(rec) if getattr(vae, "output_activation", None) is None else rec
                pred, true = prob[0] >= 0.5, v >= 0.5
                dice.append(_dice(pred, true))
                acc.append(float((pred == true).float().mean()))
        empty = [float((v < 0.5).float().mean()) for v in vessels]
        return {
            "Dice": {"value": float(np.mean(dice)), "std": float(np.std(dice)), "n": len(dice)},
            "pixel accuracy": {"value": float(np.mean(acc)), "n": len(acc)},
            "pixel accuracy of an empty map (baseline)": {"value": float(np.mean(empty)), "n": len(empty)},
        }

    def _super_resolution(self, fundus: list[torch.Tensor]) -> dict[str, Any]:
        net = self.synthesizer.upscaler
        rows: dict[str, list[float]] = {k: [] for k in ("PSNR EDSR", "PSNR bicubic", "SSIM EDSR", "SSIM bicubic")}
        with torch.inference_mode():
            for f in fundus:
                hr = f * 2 - 1  # the real image at the upscaled size (area-resized from the file, never upsampled)
                lr = downscale(hr, self.scale)
                sr = net(lr[None].to(self.synthesizer.device)).float().cpu()[0].clamp(-1, 1)
                bic = upscale_interpolated(lr, self.scale).clamp(-1, 1)
                for name, x in (("EDSR", sr), ("bicubic", bic)):
                    rows[f"PSNR {name}"].append(float(psnr(x[None], hr[None], 2, 2.0)[0]))
                    rows[f"SSIM {name}"].append(float(ssim(x[None], hr[None], 2, 2.0)[0]))
        out = {}
        for k, v in rows.items():
            out[k] = {
                "value": float(np.mean(v)),
                "std": float(np.std(v)),
                "n": len(v),
                "units": "dB" if "PSNR" in k else "",
            }
        return out

    def run(self) -> dict[str, Any]:
        """Compute every number, write ``metrics.json``, ``metrics.md`` and ``figure_synthesis.png``.

        Returns:
            The results mapping.
        """
        syn = self.synthesizer
        syn.load()
        vessels, fundus = self._real("training")
        if not vessels:
            raise InputError(self.datalist, "has no training pairs (vessel map, fundus) to compare with")
        test_vessels, test_fundus = self._real("test")
        latent = int(syn.vae.latent_size)
        z = torch.randn(self.num_generated, latent, generator=torch.Generator().manual_seed(self.seed))
        outs = [syn.generate(z[i : i + syn.batch_size]) for i in range(0, self.num_generated, syn.batch_size)]
        gen = {k: torch.cat([o[k] for o in outs]) for k in outs[0]}
        plain = torch.stack(
            [VesselDeconvolution(psf_sigma=0.0, threshold=syn.deconvolution.threshold)(p) for p in gen["probability"]]
        )
        ref = self.reference_index if self.reference_index < len(vessels) else 0
        results: dict[str, Any] = {}
        results["VAE reconstruction (training maps)"] = self._reconstruction(vessels)
        results["Vessel statistics: real maps"] = summarize_statistics([v[0] for v in vessels])
        results["Vessel statistics: samples, deconvolved"] = summarize_statistics([m[0] for m in gen["mask"]])
        results["Vessel statistics: samples, threshold only"] = summarize_statistics([m[0] for m in plain])
        real_fundus = [f for f in fundus + test_fundus]
        gen_fundus = [(f + 1) / 2 for f in gen["fundus"]]
        results["SSIM protocol (one reference)"] = {
            "generated vessel maps, deconvolved": dict(reference_ssim(list(gen["mask"]), vessels[ref], 1.0)),
            "generated vessel maps, threshold only": dict(reference_ssim(list(plain), vessels[ref], 1.0)),
            "real vessel maps": dict(reference_ssim(vessels, vessels[ref], 1.0, exclude=[ref])),
            "generated fundus": dict(reference_ssim(gen_fundus, fundus[ref], 1.0)),
            "real fundus": dict(reference_ssim(fundus, fundus[ref], 1.0, exclude=[ref])),
        }
        if self.fid:
            results["FID / KID (generated vs real fundus)"] = self._fid(real_fundus, gen_fundus)
        sr_set = self._real("test", self.scale)[1] or self._real("training", self.scale)[1]
        results[f"Super-resolution x{self.scale} ({'test' if test_fundus else 'training'} fundus)"] = (
            self._super_resolution(sr_set)
        )
        self.results = results
        json_path, md_path = write_report(results, self.output_dir, title="fundus_synthesis (seed 004)")
        self._append_paper_table(md_path)
        self.report_paths = [json_path, md_path, self._figure(gen, fundus)]
        return results

    def _fid(self, real: list[torch.Tensor], generated: list[torch.Tensor]) -> dict[str, Any]:
        try:
            default_inception_path()
        except Exception as e:  # noqa: BLE001 - FID is optional: report why it is missing
            logger.warning(f"FID / KID skipped: {e}")
            return {"FID2048": {"value": None, "note": f"skipped: {e}"}}
        extractor = InceptionFeatureExtractor(dims=(2048,), device=self.synthesizer.device)
        n = min(len(real), len(generated))
        return fid_kid(
            real,
            generated,
            extractor,
            data_range=(0, 1),
            fid_dims=(2048,),
            kid_dims=2048,
            kid_subsets=50,
            kid_subset_size=max(2, n),
            seed=self.seed,
        )

    def _append_paper_table(self, md_path: Path) -> None:
        s = self.results["SSIM protocol (one reference)"]
        ours = {
            "SSIM generated vessel maps vs reference": s["generated vessel maps, deconvolved"]["value"],
            "SSIM real vessel maps vs reference": s["real vessel maps"]["value"],
            "SSIM vessel maps of the public synthetic set [9] vs reference": None,
        }
        lines = ["", "## Seed 004 beside ours", "", "| number | paper | ours |", "|---|---|---|"]
        for key, paper in PAPER.items():
            value = ours[key]
            lines.append(f"| {key} | {paper:.2f} | {'n/a' if value is None else f'{value:.4f}'} |")
        g = s["generated fundus"]["value"]
        lines.append(f"| SSIM generated fundus vs reference | (not given) | {g:.4f} |")
        sr = next(v for k, v in self.results.items() if k.startswith("Super-resolution"))
        lines.append(
            f"| PSNR x{self.scale}: EDSR / bicubic (dB) | (not given) | "
            f"{sr['PSNR EDSR']['value']:.2f} / {sr['PSNR bicubic']['value']:.2f} |"
        )
        lines += [
            "",
            "The paper's reference is one DRIVE image and its sets are 20 DRIVE images and 20 generated ones; ours "
            "are the datalist's images, so the values compare the protocol, not the data. Single-reference SSIM "
            "rewards sharing the reference's layout; FID / KID above compare the distributions.",
        ]
        text = md_path.read_text() + "\n".join(lines) + "\n"
        with atomic_path(md_path) as tmp:
            tmp.write_text(text)

    def _figure(self, gen: dict[str, torch.Tensor], real: list[torch.Tensor]) -> Path:
        n = min(self.figure_rows, gen["mask"].shape[0])
        rows = [
            [
                _t(gen["probability"][i]),
                _t(gen["mask"][i]),
                _t((gen["fundus"][i] + 1) / 2),
                _t((gen["fundus_upscaled"][i] + 1) / 2),
                _t(real[i % len(real)]),
            ]
            for i in range(n)
        ]
        columns = [
            "sampled vessels (VAE)",
            "denoised",
            "fundus (pix2pix)",
            f"fundus x{self.scale} (EDSR)",
            "a real sample",
        ]
        return save_image_grid(columns, rows, self.output_dir / "figure_synthesis.png", [(0, 1)] * 5)
