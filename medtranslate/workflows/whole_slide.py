"""Whole-slide digital staining of two-mode confocal slides (seed 001): despeckle RCM, Gareau stain, CycleGAN H&E.

Inputs are co-registered FCM and RCM slides (tiled, pyramidal TIFF / OME-TIFF, one grayscale file per mode), read
lazily with :class:`~medtranslate.io.slide.SlideReader`. Each mode is normalised to [0, 1] by its pixel type's range;
the tissue is checked with an Otsu mask of a thumbnail. :class:`ConfocalStainNetwork` does the per-window work and
:class:`~medtranslate.inferers.tiled.TiledStreamTranslator` runs it over the slide in Gaussian-blended windows,
streaming row bands into :func:`~medtranslate.io.slide.write_pyramid_ome_tiff` (a pyramidal RGB OME-TIFF marked
SYNTHETIC). Host memory is bounded by one window row of the slide, whatever the slide size.

Bad inputs (one mode only, modes of different size or pixel size, an RGB mode, a slide smaller than one window, no
tissue) fail with one line naming the file; the other slides of the batch go on.
"""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from medtranslate import __version__
from medtranslate.errors import ConfigError, InputError
from medtranslate.inferers.tiled import TiledStreamTranslator
from medtranslate.io.slide import SlideReader, check_mode_pair, unit_scale, write_pyramid_ome_tiff
from medtranslate.transforms.stain import GareauStain
from medtranslate.transforms.tissue import otsu_tissue_mask
from medtranslate.workflows.batch_report import report_item_failure, write_batch_report
from medtranslate.workflows.translation import TranslationResult
from medtranslate.workflows.weights import load_checkpoint_network

__all__ = [
    "unknown_direction",
    "ConfocalStainNetwork",
    "WholeSlideStainWorkflow",
    "SlideResult",
    "find_mode_pairs",
    "MODE_PATTERN",
]

logger = logging.getLogger(__name__)

#: how a file names its confocal mode: ``<key>_fcm.<ext>`` / ``<key>_rcm.<ext>`` (also ``-FCM``, ``.rcm`` ...).
MODE_PATTERN = re.compile(r"^(?P<key>.+?)[_\-. ](?P<mode>fcm|rcm)$", re.IGNORECASE)
_SLIDE_SUFFIXES = (".ome.tif", ".ome.tiff", ".tif", ".tiff")


class ConfocalStainNetwork(nn.Module):
    """``(B, 2, h, w)`` FCM + RCM in [0, 1] -> ``(B, 3, h, w)`` RGB in [0, 1], the seed's pipeline per window.

    Args:
        despeckle: the RCM despeckling network (``DespeckleNet`` with its median filter on), or ``None`` to skip.
        generator: the CycleGAN generator Gareau -> H&E in the [-1, 1] convention, or ``None`` to stop at the Gareau
            stain.
        stain: the Gareau stain (default constants).
    """

    def __init__(
        self, despeckle: nn.Module | None = None, generator: nn.Module | None = None, stain: GareauStain | None = None
    ) -> None:
        super().__init__()
        self.despeckle, self.generator = despeckle, generator
        self.stain = stain or GareauStain()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Stain a batch of two-mode windows.

        Args:
            x: ``(B, 2, h, w)``.

        Returns:
            ``(B, 3, h, w)`` in [0, 1].
        """
        fcm, rcm = x[:, 0:1].float(), x[:, 1:2].float()
        if self.despeckle is not None:
            rcm = self.despeckle(rcm).float().clamp(0, 1)
        rgb = torch.stack([self.stain(torch.cat([f, r])) for f, r in zip(fcm, rcm)])
        if self.generator is not None:
            rgb = ((self.generator(rgb * 2 - 1).float() + 1) / 2).clamp(0, 1)
        return rgb


#: Outcome of :meth:`WholeSlideStainWorkflow.run`: one report row per slide, as the translate workflow's.
SlideResult = TranslationResult


def _split_name(path: Path) -> tuple[str, str | None]:
    name = path.name
    for suffix in _SLIDE_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    m = MODE_PATTERN.match(name)
    return (m.group("key"), m.group("mode").lower()) if m else (name, None)


def find_mode_pairs(folder: Path) -> tuple[list[tuple[str, Path, Path]], list[tuple[str, Path, str]]]:
    """Pair ``<key>_fcm`` and ``<key>_rcm`` slides in a folder.

    Args:
        folder: the folder (not searched recursively).

    Returns:
        ``(pairs, problems)``: ``(key, fcm, rcm)`` tuples, and ``(key, path, problem)`` for files without a partner.
    """
    modes: dict[str, dict[str, Path]] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.name.lower().endswith(_SLIDE_SUFFIXES) and not p.name.startswith("."):
            key, mode = _split_name(p)
            if mode:
                modes.setdefault(key, {})[mode] = p
    pairs, problems = [], []
    for key, m in modes.items():
        if "fcm" in m and "rcm" in m:
            pairs.append((key, m["fcm"], m["rcm"]))
        else:
            have, miss = next(iter(m.items())), "rcm" if "fcm" in m else "fcm"
            problems.append((key, have[1], f"only one confocal mode given: no {key}_{miss} file beside it"))
    return pairs, problems


def unknown_direction(direction: str, known: list[str]) -> None:
    """Raise the one-line error for a direction a bundle does not have (for ``inference.json`` dispatch).

    Args:
        direction: the requested direction.
        known: the bundle's directions.

    Raises:
        ConfigError: always.
    """
    raise ConfigError(None, f"unknown direction {direction!r}; this bundle translates: {', '.join(known)}")


class WholeSlideStainWorkflow:
    """Stain every FCM/RCM slide pair under ``input_path`` into ``<key>_he.ome.tif`` (see the module docstring).

    Args:
        input_path: the FCM slide (with ``input_rcm_path``), or a folder of ``<key>_fcm`` / ``<key>_rcm`` slides.
        output_dir: where the OME-TIFFs and the JSON report go.
        network: the per-window :class:`ConfocalStainNetwork`.
        translator: the :class:`~medtranslate.inferers.tiled.TiledStreamTranslator`.
        input_rcm_path: the RCM slide matching a single FCM ``input_path``.
        checkpoint: CycleGAN checkpoint (file or folder) for the generator (``generator_key``).
        despeckle_checkpoint: checkpoint of the despeckling network (``despeckle_key``); default ``checkpoint``
            (a file holding both).
        generator_key: checkpoint key of the generator (``"g_ab"``).
        despeckle_key: checkpoint key of the despeckling network (``"network"``).
        thumbnail_size: long side of the thumbnail the Otsu tissue mask is computed on.
        pixel_tolerance: relative difference of the two modes' pixel sizes that is still accepted.
        suffix: output file suffix after the key.
        report_name: JSON report file name.

    Raises:
        ConfigError: when the translator's output band height is not a multiple of 16 (the OME-TIFF tile size).
    """

    def __init__(
        self,
        input_path: str | os.PathLike,
        output_dir: str | os.PathLike,
        network: ConfocalStainNetwork,
        translator: TiledStreamTranslator,
        input_rcm_path: str | os.PathLike | None = None,
        checkpoint: str | os.PathLike | None = None,
        despeckle_checkpoint: str | os.PathLike | None = None,
        generator_key: str = "g_ab",
        despeckle_key: str = "network",
        thumbnail_size: int = 1024,
        pixel_tolerance: float = 0.01,
        suffix: str = "_he",
        report_name: str = "translate_report.json",
    ) -> None:
        self.input_path = Path(input_path)
        self.input_rcm_path = None if input_rcm_path in (None, "") else Path(input_rcm_path)
        self.output_dir = Path(output_dir)
        self.network, self.translator = network, translator
        if translator.stride % 16:
            raise ConfigError(None, f"the tile stride ({translator.stride}) must be a multiple of 16 (OME-TIFF tiles)")
        self.checkpoint = None if checkpoint in (None, "") else Path(checkpoint)
        self.despeckle_checkpoint = None if despeckle_checkpoint in (None, "") else Path(despeckle_checkpoint)
        self.generator_key, self.despeckle_key = generator_key, despeckle_key
        self.thumbnail_size = int(thumbnail_size)
        self.pixel_tolerance = float(pixel_tolerance)
        self.suffix, self.report_name = suffix, report_name
        self.result: SlideResult | None = None

    # ------------------------------------------------------------------ set-up
    def _load_weights(self) -> None:
        net = self.network
        if net.generator is not None:
            if self.checkpoint is None:
                logger.warning("no checkpoint given: staining with an untrained CycleGAN generator")
            else:
                load_checkpoint_network(net.generator, self.checkpoint, self.generator_key)
        if net.despeckle is not None:
            source = self.despeckle_checkpoint or self.checkpoint
            if source is None:
                logger.warning("no despeckling checkpoint given: the RCM goes through an untrained despeckler")
            else:
                load_checkpoint_network(net.despeckle, source, self.despeckle_key)
        net.to(self.translator.device).eval()

    def _jobs(self) -> tuple[list[tuple[str, Path, Path]], list[tuple[str, Path, str]]]:
        if not self.input_path.exists():
            raise InputError(self.input_path, "input not found")
        if self.input_path.is_dir():
            if self.input_rcm_path is not None:
                raise InputError(self.input_rcm_path, "--input-rcm goes with a single FCM file, not with a folder")
            pairs, problems = find_mode_pairs(self.input_path)
            if not pairs and not problems:
                raise InputError(self.input_path, "holds no <name>_fcm / <name>_rcm TIFF slides")
            return pairs, problems
        key = _split_name(self.input_path)[0]
        if self.input_rcm_path is None:
            return [], [(key, self.input_path, "only one confocal mode given; pass the RCM slide with --input-rcm")]
        return [(key, self.input_path, self.input_rcm_path)], []

    # ------------------------------------------------------------------ one slide
    def _tissue(self, fcm: SlideReader, rcm: SlideReader) -> float:
        tf, _ = fcm.thumbnail(self.thumbnail_size)
        tr, _ = rcm.thumbnail(self.thumbnail_size)
        both = tf.astype(np.float32) / unit_scale(fcm) + tr.astype(np.float32) / unit_scale(rcm)
        mask = otsu_tissue_mask(both)
        if not mask.any() or mask.mean() > 0.999:
            raise InputError(fcm.path, "shows no tissue under the Otsu mask (an empty or uniform slide)")
        return float(mask.mean())

    def _stain_one(self, key: str, fcm_path: Path, rcm_path: Path, row: dict[str, Any]) -> None:
        with SlideReader(fcm_path) as fcm, SlideReader(rcm_path) as rcm:
            check_mode_pair(fcm, rcm, self.translator.window, self.pixel_tolerance)
            row["tissue_fraction"] = round(self._tissue(fcm, rcm), 4)
            rows, cols = fcm.shape
            row["shape"] = [rows, cols]
            sf, sr = unit_scale(fcm), unit_scale(rcm)

            def read(y: int, x: int, h: int, w: int) -> np.ndarray:
                y0, x0, y1, x1 = max(y, 0), max(x, 0), min(y + h, rows), min(x + w, cols)
                pads = ((y0 - y, y + h - y1), (x0 - x, x + w - x1))
                out = []
                for reader, scale in ((fcm, sf), (rcm, sr)):
                    part = reader.read_region(y0, x0, y1 - y0, x1 - x0).astype(np.float32) / scale
                    out.append(np.pad(part, pads, mode="symmetric") if any(sum(p) for p in pads) else part)
                return np.clip(np.stack(out), 0, 1)

            def bands() -> Any:
                for band in self.translator.bands(self.network, read, (rows, cols)):
                    yield np.round(np.moveaxis(np.clip(band, 0, 1), 0, -1) * 255).astype(np.uint8)

            out = self.output_dir / f"{key}{self.suffix}.ome.tif"
            what = "CycleGAN H&E" if self.network.generator is not None else "Gareau stain"
            write_pyramid_ome_tiff(
                out,
                bands(),
                (rows, cols),
                samples=3,
                tile=self.translator.stride,
                pixel_size_um=fcm.pixel_size_um,
                name=f"{key} digitally stained ({what})",
                description=f"{what} of confocal FCM {fcm_path.name} + RCM {rcm_path.name} by medtranslate confocal2he",
            )
            row["outputs"].append(str(out))

    # ------------------------------------------------------------------ the run
    def run(self) -> SlideResult:
        """Stain every slide pair, write the report, return the result.

        Raises:
            InputError: when the input does not exist or holds no slide.
        """
        pairs, problems = self._jobs()
        if pairs:
            self._load_weights()
        result = SlideResult()
        for key, path, problem in problems:
            err = str(InputError(path, problem))
            logger.error(err)
            result.items.append({"key": key, "input": str(path), "ok": False, "error": err, "outputs": []})
        for key, fcm, rcm in pairs:
            row: dict[str, Any] = {"key": key, "input": str(fcm), "input_rcm": str(rcm), "ok": False, "error": None}
            row["outputs"] = []
            start = time.perf_counter()
            with report_item_failure(row, fcm, logger):
                self._stain_one(key, fcm, rcm, row)
                row["ok"] = True
                logger.info(f"{fcm}: stained -> {row['outputs'][0]}")
            row["seconds"] = round(time.perf_counter() - start, 3)
            if row.get("shape") and row["ok"]:
                row["megapixels_per_second"] = round(row["shape"][0] * row["shape"][1] / 1e6 / row["seconds"], 4)
            result.items.append(row)
        result.report_path = self._write_report(result)
        self.result = result
        return result

    def _write_report(self, result: SlideResult) -> Path:
        report = {
            "medtranslate_version": __version__,
            "direction": "stain",
            "input": str(self.input_path),
            "input_rcm": None if self.input_rcm_path is None else str(self.input_rcm_path),
            "output_dir": str(self.output_dir),
        }
        return write_batch_report(self.output_dir / self.report_name, report, result.items)
