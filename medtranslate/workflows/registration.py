"""Registered pairs from unregistered counterparts: each flat-mount laid onto the en-face view of its eye's OCT.

A datalist item of domain A may name its ``counterpart``: an image of the same subject in domain B that is not
registered to it (seed 000's corresponding OCT / confocal sets: the dissected retina is laid flat by hand).
:func:`register_counterparts` registers each counterpart to its A image in the en-face plane
(:func:`medtranslate.transforms.registration.register_enface`), writes it resampled onto the A image's en-face grid,
and writes a datalist whose ``pairs`` split lists them, for a paired term in training (bundles/oct2confocal's
``train_paired.json``).
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor

from medtranslate.data.datalist import load_datalist, write_datalist
from medtranslate.errors import InputError, OutputError
from medtranslate.io import load_image, save_image
from medtranslate.io.validate import affine_spacing
from medtranslate.metrics.projection import en_face_projection
from medtranslate.transforms.oct import select_depth_range
from medtranslate.transforms.registration import enface_features, register_enface, warp_in_plane
from medtranslate.workflows.batch_report import report_item_failure, write_batch_report
from medtranslate.workflows.translation import cast_output

__all__ = ["RegistrationResult", "describe_pair", "register_counterparts"]

logger = logging.getLogger(__name__)


@dataclass
class RegistrationResult:
    """What :func:`register_counterparts` wrote.

    Attributes:
        datalist: the new datalist (the input's, plus the registered ``pairs``), or None when no pair registered.
        report: the JSON report (one row per counterpart: transform, correlations, outputs, error).
        items: the report rows (``failed``: those that did not register).
    """

    datalist: Path | None
    report: Path
    items: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> list[dict[str, Any]]:
        """The rows of the counterparts that could not be registered."""
        return [row for row in self.items if not row["ok"]]


def describe_pair(row: dict[str, Any]) -> str:
    """One line for a registered pair of the report: what moved onto what, and how well it fits.

    Args:
        row: a report row of :func:`register_counterparts` that registered.

    Returns:
        e.g. ``"registered flatmount_000.tif to eye_000.nii.gz: rotation 3.1 deg, scale 0.982, correlation 0.12 ->
        0.93"`` (``(mirrored)`` after the rotation for a mirror image).
    """
    return (
        f"registered {Path(row['b']).name} to {Path(row['a']).name}: rotation {row['angle_deg']:.1f} deg"
        f"{' (mirrored)' if row['mirrored'] else ''}, scale {row['scale']:.3f}, "
        f"correlation {row['correlation_before']:.2f} -> {row['correlation_after']:.2f}"
    )


def _square_pixels(spacing: np.ndarray, path: Path, depth_axis: int) -> np.ndarray:
    """The en-face pixel size (mm) of a stack of voxel size ``spacing``, refused when its pixels are not square."""
    px = spacing[_en_face_axes(3, depth_axis)]
    if abs(px[0] / px[1] - 1.0) > 0.01:
        raise InputError(
            path,
            f"its en-face pixels are not square ({px[0]:.4g} x {px[1]:.4g} mm); a similarity transform in pixels "
            "needs square ones: resample it to square pixels first",
        )
    return px


def _output_affine(a: Any, depth_axis_a: int, depth_axis_b: int, depth_spacing_b: float) -> np.ndarray:
    """The registered stack's affine: the OCT's en-face axes and origin, in the counterpart's axis order, with the
    counterpart's own depth spacing along the OCT's depth direction."""
    src = np.asarray(a.affine, np.float64)
    out = np.eye(4)
    for b_axis, a_axis in zip(_en_face_axes(3, depth_axis_b), _en_face_axes(3, depth_axis_a)):
        out[:3, b_axis] = src[:3, a_axis]
    depth = src[:3, depth_axis_a]
    out[:3, depth_axis_b] = depth / (np.linalg.norm(depth) + 1e-12) * depth_spacing_b
    out[:3, 3] = src[:3, 3]
    return out


def _en_face_axes(ndim: int, depth_axis: int) -> list[int]:
    return [a for a in range(ndim) if a != depth_axis]


@dataclass(frozen=True)
class _Settings:
    depth_axis_a: int
    depth_axis_b: int
    depth_range: Sequence[int] | None
    channel_b: int
    invert_a: bool
    min_correlation: float
    pixel_ratio: float | None


def _register_one(item: dict[str, Any], out_dir: Path, name: str, cfg: _Settings, inputs: set[Path], row: dict) -> None:
    """Register one item's counterpart, write it and its overlay into ``out_dir``, and fill its report ``row``."""
    a_path, b_path = Path(item["image"]), Path(item["counterpart"])
    a, b = load_image(a_path, series_uid=item.get("series_uid")), load_image(b_path)
    for img, path, axis in ((a, a_path, cfg.depth_axis_a), (b, b_path, cfg.depth_axis_b)):
        if img.ndim != 4 or not 0 <= axis < 3:
            raise InputError(path, f"expected a 3D stack with its depth on spatial axis {axis}, got {tuple(img.shape)}")
    if not 0 <= cfg.channel_b < b.shape[0]:
        raise InputError(b_path, f"has {b.shape[0]} channels; the vessel channel {cfg.channel_b} does not exist")
    depth_range = item.get("depth_range", cfg.depth_range)  # an item's own ILM-IPL slab wins, as in training
    slab = select_depth_range(a, depth_range, cfg.depth_axis_a, path=str(a_path))  # as DepthRanged crops it
    fixed = en_face_projection(np.asarray(slab[0], np.float32), axis=cfg.depth_axis_a, mode="mean")
    moving = en_face_projection(np.asarray(b[cfg.channel_b], np.float32), axis=cfg.depth_axis_b, mode="max")
    spacing_b = affine_spacing(np.asarray(b.affine), 3)
    px_a = _square_pixels(affine_spacing(np.asarray(a.affine), 3), a_path, cfg.depth_axis_a)
    px_b = _square_pixels(spacing_b, b_path, cfg.depth_axis_b)
    ratio = float(cfg.pixel_ratio) if cfg.pixel_ratio else float(px_a[0] / px_b[0])  # counterpart pixels per OCT pixel
    if not 0.2 <= ratio <= 5.0:
        raise InputError(
            b_path,
            f"its pixels ({px_b[0]:.4g} mm) and those of {a_path.name} ({px_a[0]:.4g} mm) differ "
            f"{max(ratio, 1 / ratio):.3g}-fold: is one of them uncalibrated? Give the file its pixel size, or set "
            "pixel_ratio (the OCT's pixel size over the counterpart's)",
        )
    try:
        reg = register_enface(fixed, moving, invert_fixed=cfg.invert_a, scale_prior=ratio)
    except ValueError as e:
        raise InputError(b_path, str(e)) from e
    row.update(reg.as_dict())
    if reg.correlation_after < cfg.min_correlation:
        raise InputError(
            b_path,
            f"found no match with {a_path.name} (correlation {reg.correlation_after:.2f} < {cfg.min_correlation}): "
            f"is it the same eye, with its vessels in channel {cfg.channel_b}?",
        )
    stack = np.moveaxis(np.asarray(b), cfg.depth_axis_b + 1, 1)  # (C, depth, en-face...)
    warped = cast_output(torch.as_tensor(warp_in_plane(stack, reg, fixed.shape)), str(stack.dtype)).numpy()
    warped = np.moveaxis(warped, 1, cfg.depth_axis_b + 1)  # the counterpart's dtype, rounded as a translation's
    affine = _output_affine(a, cfg.depth_axis_a, cfg.depth_axis_b, float(spacing_b[cfg.depth_axis_b]))
    target = out_dir / f"{name}_registered{''.join(b_path.suffixes) or '.nii.gz'}"
    figure = out_dir / f"{name}_overlay.png"
    _refuse_inputs((target, figure), inputs)
    saved = save_image(MetaTensor(warped, affine=affine), target)
    features = enface_features(-fixed if cfg.invert_a else fixed)
    laid = enface_features(warp_in_plane(moving, reg, fixed.shape))
    overlay = np.stack([laid, features, laid])  # magenta: the registered view, green: the fixed one
    overlay = np.clip(127.5 + 42.5 * overlay, 0, 255).astype(np.uint8)
    figure = save_image(overlay, figure)
    row.update({"registered": str(saved), "overlay": str(figure), "ok": True})


def _refuse_inputs(outputs: Sequence[Path], inputs: set[Path]) -> None:
    for path in outputs:
        if path.resolve() in inputs:
            raise OutputError(path, "would replace an input of the datalist; choose another output folder")


def _input_paths(source: Path, data: dict[str, Any]) -> set[Path]:
    """The datalist and every file it names (images, pairs, ground truths, counterparts), resolved."""
    paths = {source.resolve()}
    for split in ("training", "validation", "test"):
        for items in data.get(split, {}).values():
            for item in items:
                paths.update(
                    Path(item[k]).resolve() for k in ("image", "a", "b", "ground_truth", "counterpart") if item.get(k)
                )
    return paths


def _pair(item: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    """The datalist pair of a registered item, carrying what training reads from the item (series, slab, ...)."""
    pair = {"a": row["a"], "b": row["registered"]}
    if item.get("series_uid"):
        pair["series_uid_a"] = item["series_uid"]
    pair.update({k: item[k] for k in ("depth_range", "subject", "label") if k in item})
    return pair


def register_counterparts(
    datalist: str | os.PathLike,
    output_dir: str | os.PathLike,
    depth_axis_a: int = 0,
    depth_axis_b: int = 2,
    depth_range: Sequence[int] | None = None,
    channel_b: int = 0,
    invert_a: bool = True,
    split: str = "training",
    min_correlation: float = 0.3,
    strict: bool = True,
    pixel_ratio: float | None = None,
) -> RegistrationResult:
    """Register each A image's ``counterpart`` to it in the en-face plane; write them and a datalist of the pairs.

    For every ``split``/``domain_a`` item with a ``counterpart``: the A stack's mean projection over ``depth_range``
    (OCT: its vessels are dark shadows, hence ``invert_a``) and the counterpart's maximum projection of
    ``channel_b`` (confocal: the vessel stain) are registered by a similarity transform, mirror included
    (:func:`~medtranslate.transforms.registration.register_enface`; the pixel sizes give the expected scale). The
    counterpart is resampled onto the A image's en-face grid, every slice and channel, keeping its own depth axis and
    dtype, and written to ``output_dir`` with an overlay PNG of the two views (green: A, magenta: the registered
    counterpart). A pair whose correlation stays below ``min_correlation`` is refused. One bad pair does not stop the
    others: it is reported, and an :class:`~medtranslate.errors.InputError` is raised at the end, after the rest is
    written.

    Args:
        datalist: the datalist (its A items name their ``counterpart``).
        output_dir: where the registered stacks, overlays, ``registration.json`` and ``datalist.json`` go.
        depth_axis_a: the depth axis of the A images among their spatial axes (the bundle's ``oct_depth_axis``).
        depth_axis_b: the depth axis of the counterparts (the bundle's ``confocal_depth_axis``).
        depth_range: ``(start, stop)`` of the A depths projected (the bundle's ``depth_range``; an item's own
            ``depth_range`` wins); None: all.
        channel_b: the counterpart's channel that shows what A's projection shows (confocal red: vessels).
        invert_a: negate A's projection (dark OCT vessel shadows against bright stained vessels).
        split: the datalist split whose items are registered.
        min_correlation: the lowest normalised correlation of the two registered views accepted.
        strict: raise after the run when a pair failed; False returns the result, whose ``failed`` rows say why
            (``medtranslate register`` then exits 1).
        pixel_ratio: the A images' en-face pixel size over the counterparts' (the expected scale); None: from the
            files' calibration. A ratio beyond 5 either way is refused as a likely uncalibrated file.

    Returns:
        The paths written and the report rows.

    Raises:
        InputError: when the split has no counterparts, or, with ``strict``, after the run when a pair failed (each
            is named in the report and the log).
    """
    source = Path(datalist)
    data = load_datalist(source)
    items = [i for i in data.get(split, {}).get("domain_a", []) if i.get("counterpart")]
    if not items:
        raise InputError(source, f"no {split} domain_a item names a 'counterpart' (the unregistered image to pair)")
    out = Path(output_dir)
    inputs = _input_paths(source, data)
    _refuse_inputs((out / "registration.json", out / "datalist.json"), inputs)
    out.mkdir(parents=True, exist_ok=True)
    cfg = _Settings(depth_axis_a, depth_axis_b, depth_range, channel_b, invert_a, min_correlation, pixel_ratio)
    rows: list[dict[str, Any]] = []
    names: set[str] = set()
    for i, item in enumerate(items):
        row: dict[str, Any] = {"a": item["image"], "b": item["counterpart"], "ok": False}
        name = Path(item["counterpart"]).name.split(".")[0]
        name = name if name not in names else f"{name}_{i}"  # two counterparts of one name in different folders
        names.add(name)
        with report_item_failure(row, item["counterpart"], logger):
            _register_one(item, out, name, cfg, inputs, row)
        if row["ok"]:
            logger.info(describe_pair(row))
        rows.append(row)
    fields = {"datalist": str(source), "split": split, "depth_range": list(depth_range) if depth_range else None}
    report = write_batch_report(out / "registration.json", fields, rows)
    new_datalist = None
    pairs = [_pair(item, row) for item, row in zip(items, rows) if row["ok"]]
    if pairs:
        new = copy.deepcopy(data)
        new.setdefault(split, {})["pairs"] = [*new[split].get("pairs", []), *pairs]  # pairs it had are kept
        new_datalist = write_datalist(new, out / "datalist.json")
    elif (out / "datalist.json").exists():  # an earlier run's pairs must not be trained on as this run's
        (out / "datalist.json").unlink()
    failed = [r for r in rows if not r["ok"]]
    if failed and strict:
        raise InputError(
            report, f"{len(failed)} of {len(rows)} counterparts could not be registered: {failed[0]['error']}"
        )
    return RegistrationResult(new_datalist, report, rows)
