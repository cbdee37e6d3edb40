"""Synthesis of retinal fundus images with their vessel masks (seed 004; ``medtranslate synthesize``).

:class:`FundusSynthesisWorkflow` runs the whole generative pipeline of the fundus_synthesis bundle:

1. latent codes ``z ~ N(0, I)`` drawn from one seeded generator (all codes first, so pair ``i`` does not depend on
   ``num`` or the batch size) and decoded by the residual VAE into vessel probabilities;
2. deconvolution denoising and binarisation (:class:`~medtranslate.transforms.vessels.VesselDeconvolution`);
3. the pix2pix generator: binary vessel map -> RGB fundus at the configured size (512 in the paper);
4. EDSR: x2 (1024 in the paper).

Each pair is written as ``images/synth_NNNN.png`` (the upscaled fundus), ``masks/synth_NNNN.png`` (its vessel mask at
that size) and ``masks_small/synth_NNNN.png`` (the mask pix2pix was given), each PNG carrying a ``Description`` text
chunk that starts with ``SYNTHETIC``; ``manifest.json`` is a data_specs datalist (``training.pairs``: ``a`` = image,
``b`` = mask) that :func:`medtranslate.data.datalist.load_datalist` validates, marked synthetic in its name,
description and every item. The same seed and checkpoints give identical bytes.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from torch import nn

from medtranslate import __version__
from medtranslate.data.datalist import load_datalist
from medtranslate.errors import ConfigError, InputError
from medtranslate.modelio import load_network, resolve_checkpoint, stage_checkpoint
from medtranslate.transforms.vessels import VesselDeconvolution
from medtranslate.utils.amp import autocast, resolve_amp
from medtranslate.utils.atomic import atomic_path

__all__ = ["FundusSynthesisWorkflow", "SynthesisResult", "MANIFEST_NAME", "load_stage"]

logger = logging.getLogger(__name__)

#: the manifest file name; an output folder holding one is refused unless ``overwrite``.
MANIFEST_NAME = "manifest.json"


@dataclass
class SynthesisResult:
    """Outcome of :meth:`FundusSynthesisWorkflow.run`.

    Args:
        manifest: the manifest (datalist) path.
        pairs: one row per pair (``image``, ``mask``, ``mask_small`` paths, ``index``).
        seconds: wall time of the generation (networks loaded).
        arrays: per pair, when ``keep_arrays``: ``probability``, ``mask``, ``fundus``, ``fundus_upscaled`` (numpy).
    """

    manifest: Path
    pairs: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    arrays: list[dict[str, np.ndarray]] = field(default_factory=list)


def load_stage(network: nn.Module, checkpoint: str | os.PathLike, stage: str, key: str) -> Path:
    """Load one stage's network from a stage checkpoint (file or folder) or the bundle's training output folder.

    Args:
        network: the network.
        checkpoint: ``<output_dir>`` of the training runs, ``<output_dir>/<stage>/checkpoints``, or a file.
        stage: ``"vae"``, ``"pix2pix"`` or ``"edsr"``.
        key: the network's key in the checkpoint.

    Returns:
        The file loaded.

    Raises:
        InputError: when no checkpoint of the stage is found or the weights do not fit.
    """
    path = stage_checkpoint(checkpoint, stage)
    if not Path(path).exists():
        raise InputError(path, f"checkpoint of the {stage} stage not found (train it first, or pass --checkpoint)")
    resolved = resolve_checkpoint(path)
    if resolved is None:
        raise InputError(path, f"holds no checkpoint_*.pt file of the {stage} stage")
    load_network(network, resolved, key, hint=f"set the {stage} network keys (--set) to the trained sizes")
    return resolved


def _png(array: np.ndarray, path: Path, text: dict[str, str]) -> Path:
    """Write ``(H, W)`` or ``(H, W, 3)`` uint8 as PNG with text chunks, atomically (no time stamps: same bytes)."""
    info = PngInfo()
    for key, value in text.items():
        info.add_text(key, value)
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG", pnginfo=info)
    return path


def _rgb_uint8(x: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` in [-1, 1] -> ``(H, W, 3)`` uint8 (rows = the first spatial axis of medtranslate's (C, X, Y))."""
    a = ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()
    return np.ascontiguousarray(np.moveaxis(a, 0, -1).transpose(1, 0, 2))


def _mask_uint8(x: torch.Tensor) -> np.ndarray:
    """``(1, H, W)`` of 0/1 -> ``(H, W)`` uint8 0/255, laid out like :func:`_rgb_uint8`."""
    return np.ascontiguousarray((x[0].cpu().numpy() > 0.5).astype(np.uint8).T * 255)


class FundusSynthesisWorkflow:
    """Generate ``num`` synthetic fundus image / vessel mask pairs (see the module docstring).

    Args:
        vae: the residual VAE (``ResidualVAE``); its ``sample`` space is used through ``decode_latent``.
        generator: the pix2pix generator, binary map in [-1, 1] -> RGB in [-1, 1].
        upscaler: the EDSR network (x ``scale``), RGB in [-1, 1].
        checkpoint: the training output folder (holding ``vae/``, ``pix2pix/``, ``edsr/``) or a folder with those.
        output_dir: where the pairs and the manifest go.
        num: number of pairs (>= 1).
        seed: the seed of the latent codes.
        overwrite: replace the results of an earlier run in ``output_dir`` (default: refuse).
        deconvolution: the denoising step (default Richardson-Lucy, Gaussian PSF sigma 1, 10 iterations).
        device: where the networks run.
        amp: ``"bf16"``, ``"fp16"`` or ``None`` for the network passes.
        batch_size: pairs per network call.
        keep_arrays: keep every pair's intermediate arrays in the result (figures, tests; memory grows with num).
        network_keys: checkpoint keys of the three networks.

    Raises:
        ConfigError: for ``num < 1`` or ``batch_size < 1``.
    """

    def __init__(
        self,
        vae: nn.Module,
        generator: nn.Module,
        upscaler: nn.Module,
        checkpoint: str | os.PathLike | None,
        output_dir: str | os.PathLike,
        num: int,
        seed: int = 0,
        overwrite: bool = False,
        deconvolution: VesselDeconvolution | None = None,
        device: str | torch.device = "cpu",
        amp: str | None = None,
        batch_size: int = 4,
        keep_arrays: bool = False,
        network_keys: Sequence[str] = ("network", "generator", "network"),
    ) -> None:
        if int(num) < 1:
            raise ConfigError(None, f"--num must be at least 1, got {num}")
        if int(batch_size) < 1:
            raise ConfigError(None, f"batch_size must be at least 1, got {batch_size}")
        if int(seed) < 0:
            raise ConfigError(None, f"--seed must be non-negative, got {seed}")
        self.vae, self.generator, self.upscaler = vae, generator, upscaler
        self.checkpoint = None if checkpoint in (None, "") else Path(checkpoint)
        self.output_dir = Path(output_dir)
        self.num, self.seed, self.overwrite = int(num), int(seed), bool(overwrite)
        self.deconvolution = deconvolution if deconvolution is not None else VesselDeconvolution()
        self.device = torch.device(device)
        self.amp = resolve_amp(amp)
        self.batch_size = int(batch_size)
        self.keep_arrays = bool(keep_arrays)
        self.network_keys = tuple(network_keys)
        self.result: SynthesisResult | None = None

    def _check_destination(self) -> Path:
        manifest = self.output_dir / MANIFEST_NAME
        if manifest.exists() and not self.overwrite:
            raise InputError(
                self.output_dir, f"already holds a synthesis ({MANIFEST_NAME}); use --overwrite or another --output"
            )
        if self.output_dir.exists() and not self.output_dir.is_dir():
            raise InputError(self.output_dir, "is a file, not a folder")
        return manifest

    def load(self) -> None:
        """Load the three stages' weights (when a checkpoint is set) and put the networks in eval mode on the device."""
        if self.checkpoint is None:
            logger.warning("no checkpoint given: synthesising with the networks' current (possibly untrained) weights")
        else:
            for net, stage, key in zip(
                (self.vae, self.generator, self.upscaler), ("vae", "pix2pix", "edsr"), self.network_keys
            ):
                load_stage(net, self.checkpoint, stage, key)
        for net in (self.vae, self.generator, self.upscaler):
            net.to(self.device).eval()

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        with autocast(self.device, self.amp):
            out = self.vae.decode_latent(z.to(self.device))
        out = out.float()
        activation = getattr(self.vae, "output_activation", None)
        if activation is None:
            return torch.sigmoid(out)
        return (out + 1) / 2 if activation == "tanh" else out

    def _net(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        with autocast(self.device, self.amp):
            return net(x).float().clamp(-1, 1)

    def generate(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """Run the pipeline on latent codes (no files written).

        Args:
            z: ``(B, latent_size)`` latent codes.

        Returns:
            ``probability`` (VAE output in [0, 1]), ``mask`` (denoised binary), ``fundus`` ([-1, 1]),
            ``fundus_upscaled`` ([-1, 1]) and ``mask_upscaled`` (binary at the upscaled size), each ``(B, C, H, W)``.
        """
        with torch.inference_mode():
            prob = self._decode(z).cpu()
            mask = torch.stack([self.deconvolution(p) for p in prob])
            fundus = self._net(self.generator, (mask * 2 - 1).to(self.device))
            big = self._net(self.upscaler, fundus)
            scale = big.shape[-1] // fundus.shape[-1]
            mask_big = F.interpolate(mask, scale_factor=scale, mode="bilinear", align_corners=False) >= 0.5
        return {
            "probability": prob,
            "mask": mask,
            "fundus": fundus.cpu(),
            "fundus_upscaled": big.cpu(),
            "mask_upscaled": mask_big.float(),
        }

    def run(self) -> SynthesisResult:
        """Generate and write the pairs and the manifest.

        Returns:
            The :class:`SynthesisResult`.

        Raises:
            InputError: when the output folder already holds a manifest (without ``overwrite``) or a checkpoint is
                missing.
        """
        manifest_path = self._check_destination()
        self.load()
        start = time.perf_counter()
        latent = int(self.vae.latent_size)
        z = torch.randn(self.num, latent, generator=torch.Generator().manual_seed(self.seed))
        text = {
            "Description": f"SYNTHETIC image made by medtranslate {__version__} (fundus_synthesis, seed {self.seed})",
            "Software": f"medtranslate {__version__}",
        }
        result = SynthesisResult(manifest=manifest_path)
        for first in range(0, self.num, self.batch_size):
            out = self.generate(z[first : first + self.batch_size])
            for j in range(out["mask"].shape[0]):
                i = first + j
                name = f"synth_{i:04d}.png"
                paths = {
                    "image": self.output_dir / "images" / name,
                    "mask": self.output_dir / "masks" / name,
                    "mask_small": self.output_dir / "masks_small" / name,
                }
                for p in paths.values():
                    p.parent.mkdir(parents=True, exist_ok=True)
                _png(_rgb_uint8(out["fundus_upscaled"][j]), paths["image"], text)
                _png(_mask_uint8(out["mask_upscaled"][j]), paths["mask"], text)
                _png(_mask_uint8(out["mask"][j]), paths["mask_small"], text)
                result.pairs.append({"index": i, **{k: str(v) for k, v in paths.items()}})
                if self.keep_arrays:
                    result.arrays.append({k: v[j].numpy() for k, v in out.items()})
        result.seconds = time.perf_counter() - start
        self._write_manifest(result)
        self.result = result
        logger.info(f"synthesised {self.num} pair(s) into {self.output_dir} in {result.seconds:.1f} s")
        return result

    def _write_manifest(self, result: SynthesisResult) -> None:
        rel = lambda p: Path(p).relative_to(self.output_dir).as_posix()  # noqa: E731
        pairs = [
            {"a": rel(r["image"]), "b": rel(r["mask"]), "mask_small": rel(r["mask_small"]), "synthetic": True}
            for r in result.pairs
        ]
        manifest = {
            "name": f"SYNTHETIC fundus images with vessel masks (seed {self.seed})",
            "description": (
                f"SYNTHETIC data made by medtranslate {__version__} with the fundus_synthesis bundle (residual VAE -> "
                f"deconvolution -> pix2pix -> EDSR), seed {self.seed}, {self.num} pairs, checkpoint "
                f"{self.checkpoint}. No image shows a real patient. a: RGB fundus image, b: binary vessel mask "
                "(0/255) of the same size; mask_small: the mask at the generator's size."
            ),
            "modality_a": "fundus (synthetic)",
            "modality_b": "vessel mask (synthetic)",
            "training": {"pairs": pairs},
        }
        with atomic_path(result.manifest) as tmp:
            tmp.write_text(json.dumps(manifest, indent=2) + "\n")
        load_datalist(result.manifest)  # the manifest must be a valid datalist whose files exist
