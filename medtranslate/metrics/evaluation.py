"""Generic evaluation of a two-way (CycleGAN) translation model on a datalist's test split, for ``evaluate.json``.

For every test image of domain A it computes ``G_AB(x)`` and the round trip ``G_BA(G_AB(x))``, and the same from B.
Metrics (slice-wise 2D SSIM / PSNR as seed 003 reports them, on the networks' [-1, 1] range, data_range 2):

* ``SSIM translation`` / ``PSNR translation``: ``G_AB(x)`` against the paired real B image (only where the datalist
  pairs it; unpaired data has no reference);
* ``SSIM cycle`` / ``PSNR cycle``: ``G_BA(G_AB(x))`` against ``x`` (always available);
* ``MAE``: the translation mapped back to its units (for example HU through the CT window's inverse) against the
  paired real image in its units, over all voxels and over the body (voxels of the paired real image above
  ``body_threshold`` in its units, e.g. -500 HU).

Slices whose input has less than ``min_foreground`` of voxels above the background level are skipped (as in
training). The report (JSON + Markdown) is written with :func:`medtranslate.metrics.write_report`, plus a figure in
the layout of seed 003's Figure 4 (generated B, real B, restored A, original A) for the first paired test item.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medtranslate.errors import ConfigError, MedTranslateError

__all__ = ["CycleGANEvaluation", "save_panel_figure", "slice_metrics"]

logger = logging.getLogger(__name__)


def _slices(volume: torch.Tensor, axis: int) -> torch.Tensor:
    """(C, D1, D2, D3) -> (N, C, H, W) slices along spatial ``axis``; 2D (C, H, W) -> (1, C, H, W)."""
    if volume.ndim == 3:
        return volume.unsqueeze(0)
    return volume.movedim(1 + axis, 0)


def slice_metrics(
    pred: torch.Tensor,
    target: torch.Tensor,
    axis: int,
    data_range: float = 2.0,
    keep: torch.Tensor | None = None,
) -> dict[str, list[float]]:
    """Per-slice 2D SSIM and PSNR of two volumes (the paper's 2D SSIM, averaged later over slices).

    Args:
        pred: (C, *spatial) prediction.
        target: same shape.
        axis: slicing axis among the spatial axes.
        data_range: value range width (2 for [-1, 1]).
        keep: boolean per slice: which slices count (default all).

    Returns:
        ``{"ssim": [...], "psnr": [...]}`` for the kept slices.
    """
    from medtranslate.metrics.similarity import psnr, ssim

    p, t = _slices(pred.float(), axis), _slices(target.float(), axis)
    if keep is not None:
        p, t = p[keep], t[keep]
    if p.shape[0] == 0:
        return {"ssim": [], "psnr": []}
    win = min(11, *p.shape[2:])
    win -= (win + 1) % 2  # odd window that fits
    s = ssim(p, t, spatial_dims=2, data_range=data_range, win_size=max(win, 3))
    q = psnr(p, t, spatial_dims=2, data_range=data_range)
    return {"ssim": [float(v) for v in s], "psnr": [float(v) for v in q]}


def save_panel_figure(
    panels: Sequence[tuple[str, np.ndarray]], path: str | os.PathLike, value_ranges: Sequence[tuple] | None = None
) -> Path:
    """A one-row PNG of 2D panels with titles (the layout of seed 003's Figure 4), written atomically.

    Args:
        panels: ``(title, 2D array)`` pairs; arrays are shown with row 0 at the top.
        path: destination PNG.
        value_ranges: display range per panel; default each panel's 1st-99th percentile.

    Returns:
        The PNG path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from medtranslate.utils.atomic import atomic_path

    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.4))
    for i, (ax, (title, img)) in enumerate(zip(np.atleast_1d(axes), panels)):
        img = np.asarray(img, dtype=np.float32)
        lo, hi = value_ranges[i] if value_ranges else np.percentile(img, [1, 99])
        ax.imshow(img, cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return Path(path)


def _summary(values: list[float], units: str = "") -> dict[str, Any]:
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    entry: dict[str, Any] = {"value": float(arr.mean()) if arr.size else None, "n": int(arr.size)}
    entry["std"] = float(arr.std()) if arr.size else None
    if units:
        entry["units"] = units
    return entry


class CycleGANEvaluation:
    """Evaluate both directions of a two-generator model on a datalist's test split (see the module docstring).

    Args:
        directions: the two :class:`~medtranslate.inferers.TranslationDirection` by name; ``forward`` (A -> B) and
            ``backward`` (B -> A) name them. Their ``network`` is the generator of that direction.
        forward: name of the A -> B direction (e.g. "ct2mr").
        backward: name of the B -> A direction (e.g. "mr2ct").
        datalist: datalist JSON (``medtranslate.data`` format) or an already loaded one.
        output_dir: where ``metrics.json``, ``metrics.md`` and the figure go.
        translator: the :class:`~medtranslate.inferers.SliceTranslator` / ``VolumeTranslator`` used for inference.
        checkpoint: trainer checkpoint (or folder) with both generators; ``None`` keeps the networks' weights.
        split: datalist split to evaluate.
        device: where the networks run.
        resize: size the networks run at (:class:`~medtranslate.inferers.ResizeNetwork`), ``None`` for none.
        slice_axis: axis of the 2D slices the SSIM / PSNR are computed on (default: the translator's axis, else 2).
        min_foreground: skip slices whose normalised input has less than this fraction above ``background``.
        background: normalised background level (values at or below it count as background).
        units: units of each direction's output for MAE, e.g. ``{"mr2ct": "HU"}``; MAE is computed for directions
            with an ``output_transform``.
        body_threshold: per direction, the level (in output units) above which a voxel of the real image counts as
            body for the masked MAE, e.g. ``{"mr2ct": -500}``.
        reference: published numbers added to the report as their own group (e.g. the paper's SSIMs).
        figure: write the Figure-4-style panel for the first paired test item.
        title: report title.
        names: domain names ``(A, B)`` used in metric labels, e.g. ``("CT", "MR")``.

    Raises:
        ConfigError: when ``forward`` / ``backward`` are not in ``directions``.
    """

    def __init__(
        self,
        directions: Mapping[str, Any],
        forward: str,
        backward: str,
        datalist: str | os.PathLike | Mapping[str, Any],
        output_dir: str | os.PathLike,
        translator: Any,
        checkpoint: str | os.PathLike | None = None,
        split: str = "test",
        device: str | torch.device | None = None,
        resize: Sequence[int] | None = None,
        slice_axis: int | None = None,
        min_foreground: float = 0.05,
        background: float = -0.95,
        units: Mapping[str, str] | None = None,
        body_threshold: Mapping[str, float] | None = None,
        reference: Mapping[str, Any] | None = None,
        figure: bool = True,
        title: str = "Evaluation",
        names: Sequence[str] = ("A", "B"),
    ) -> None:
        for name in (forward, backward):
            if name not in directions:
                raise ConfigError(None, f"evaluation direction {name!r} is not defined (have: {', '.join(directions)})")
        self.directions = dict(directions)
        self.forward, self.backward = forward, backward
        self.datalist = datalist
        self.output_dir = Path(output_dir)
        self.translator = translator
        self.checkpoint = None if checkpoint in (None, "") else Path(checkpoint)
        self.split = split
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.resize = None if resize is None else tuple(int(s) for s in resize)
        axis = getattr(translator, "axis", None)
        self.slice_axis = int(slice_axis if slice_axis is not None else (axis if axis is not None else 2))
        self.min_foreground = float(min_foreground)
        self.background = float(background)
        self.units = dict(units or {})
        self.body_threshold = dict(body_threshold or {})
        self.reference = dict(reference or {})
        self.figure = bool(figure)
        self.title = title
        self.names = tuple(names)
        self.report_paths: list[Path] = []
        self.failed: list[str] = []
        self.results: dict[str, Any] = {}

    def _networks(self) -> dict[str, Any]:
        from medtranslate.inferers.workflow import ResizeNetwork, load_direction_weights

        nets = {}
        for name in (self.forward, self.backward):
            d = self.directions[name]
            if self.checkpoint is not None:
                load_direction_weights(d, self.checkpoint)
            net = d.network.to(self.device).eval()
            nets[name] = ResizeNetwork(net, self.resize) if self.resize else net
        if self.checkpoint is None:
            logger.warning("no checkpoint given: evaluating the networks' current (possibly untrained) weights")
        return nets

    def _items(self) -> tuple[list[str], list[str], dict[str, str]]:
        from medtranslate.data import datalist_split, load_datalist

        dl = self.datalist if isinstance(self.datalist, Mapping) else load_datalist(self.datalist)
        a = [item["image"] for item in datalist_split(dl, self.split, "domain_a", missing_ok=True)]
        b = [item["image"] for item in datalist_split(dl, self.split, "domain_b", missing_ok=True)]
        pairs = {p["a"]: p["b"] for p in datalist_split(dl, self.split, "pairs", missing_ok=True)}
        a += [p for p in pairs if p not in a]
        b += [p for p in pairs.values() if p not in b]
        if not a and not b:
            raise ConfigError(None, f"the datalist has no {self.split!r} images to evaluate")
        return a, b, pairs

    def _load(self, path: str, direction: str) -> tuple[Any, Any]:
        from medtranslate.io import load_image

        d = self.directions[direction]
        image = load_image(path)
        if d.check is not None:
            for w in d.check(image, path) or []:
                logger.warning(w)
        if image.ndim == 3:  # a single 2D slice: a one-slice volume
            image = image.unsqueeze(1 + self.slice_axis)
        return image, d.input_transform(image)

    def _evaluate_one(
        self, path: str, partner: str | None, fwd: str, bwd: str, nets: dict[str, Any], acc: dict[str, list[float]]
    ) -> dict[str, Any] | None:
        from monai.data import MetaTensor

        _, x = self._load(path, fwd)
        x = x.as_tensor() if isinstance(x, MetaTensor) else x
        fake = self.translator(nets[fwd], x, path)
        rec = self.translator(nets[bwd], fake, path)
        fg = (x > self.background).float()
        keep = _slices(fg, self.slice_axis).flatten(1).mean(1) >= self.min_foreground
        cyc = slice_metrics(rec, x, self.slice_axis, keep=keep)
        acc["cycle_ssim"] += cyc["ssim"]
        acc["cycle_psnr"] += cyc["psnr"]
        if partner is None:
            return None
        real_units, y = self._load(partner, bwd)
        y = y.as_tensor() if isinstance(y, MetaTensor) else y
        if tuple(y.shape) != tuple(fake.shape):
            raise ConfigError(partner, f"paired image has shape {tuple(y.shape)}, the translation {tuple(fake.shape)}")
        tr = slice_metrics(fake, y, self.slice_axis, keep=keep)
        acc["ssim"] += tr["ssim"]
        acc["psnr"] += tr["psnr"]
        d = self.directions[fwd]
        if d.output_transform is not None:
            out_units = torch.as_tensor(d.output_transform(fake)).float()
            real = torch.as_tensor(real_units.as_tensor() if isinstance(real_units, MetaTensor) else real_units)
            err = (out_units - real.float()).abs()
            acc["mae"].append(float(err.mean()))
            level = self.body_threshold.get(fwd)
            if level is not None:
                body = real.float() > level
                if body.any():
                    acc["mae_body"].append(float(err[body].mean()))
        return {"x": x, "fake": fake, "rec": rec, "y": y, "keep": keep}

    def _figure(self, sample: dict[str, Any], fwd: str) -> Path:
        keep = sample["keep"]
        fg = _slices((sample["x"] > self.background).float(), self.slice_axis).flatten(1).mean(1)
        k = int(torch.argmax(fg * keep.float() if keep.any() else fg))
        a_name, b_name = self.names

        def pick(v: torch.Tensor) -> np.ndarray:
            return _slices(v, self.slice_axis)[k, 0].detach().cpu().numpy().T  # row 0 at the top, as viewers show it

        panels = [
            (f"generated {b_name}", pick(sample["fake"])),
            (f"real {b_name}", pick(sample["y"])),
            (f"restored {a_name}", pick(sample["rec"])),
            (f"original {a_name}", pick(sample["x"])),
        ]
        return save_panel_figure(panels, self.output_dir / f"figure_{fwd}.png", value_ranges=[(-1, 1)] * 4)

    def run(self) -> dict[str, Any]:
        """Evaluate, write the report (and figure), and return the results.

        Returns:
            ``{direction: {metric: {"value", "std", "n", "units"}}, ...}`` as written to ``metrics.json``.
        """
        from medtranslate.metrics.report import write_report

        nets = self._networks()
        items_a, items_b, pairs = self._items()
        reverse = {b: a for a, b in pairs.items()}
        a_name, b_name = self.names
        results: dict[str, Any] = {}
        figures = []
        for fwd, bwd, items, partners, src, dst in (
            (self.forward, self.backward, items_a, pairs, a_name, b_name),
            (self.backward, self.forward, items_b, reverse, b_name, a_name),
        ):
            acc: dict[str, list[float]] = {
                k: [] for k in ("ssim", "psnr", "cycle_ssim", "cycle_psnr", "mae", "mae_body")
            }
            sample = None
            for path in items:
                try:
                    out = self._evaluate_one(path, partners.get(path), fwd, bwd, nets, acc)
                except MedTranslateError as e:
                    self.failed.append(str(e))
                    logger.error(str(e))
                    continue
                sample = sample or out
            group: dict[str, Any] = {}
            if acc["ssim"]:
                group["SSIM translation"] = _summary(acc["ssim"])
                group["PSNR translation"] = _summary(acc["psnr"], "dB")
            group[f"SSIM cycle ({src}->{dst}->{src})"] = _summary(acc["cycle_ssim"])
            group[f"PSNR cycle ({src}->{dst}->{src})"] = _summary(acc["cycle_psnr"], "dB")
            if acc["mae"]:
                group["MAE"] = _summary(acc["mae"], self.units.get(fwd, ""))
            if acc["mae_body"]:
                group["MAE (body)"] = _summary(acc["mae_body"], self.units.get(fwd, ""))
            results[fwd] = group
            if self.figure and sample is not None:
                figures.append(self._figure(sample, fwd))
        if self.reference:
            results = {**results, **{"reference": self.reference}}
        self.results = results
        json_path, md_path = write_report(results, self.output_dir, name="metrics", title=self.title)
        self.report_paths = [json_path, md_path, *figures]
        return results
