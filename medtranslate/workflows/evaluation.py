"""The one generic evaluation runtime (bundles' ``evaluate.json``): translate a datalist's test images and measure.

Everything bundle-specific is declared in the config:

* ``passes``: which inputs are translated in which direction, e.g. the CT test images with ``ct2mr`` (paired with
  their MR from the datalist's ``pairs``), and the MR ones with ``mr2ct``;
* ``metrics``: which metric callables (``_target_`` entries of :mod:`medtranslate.metrics` or any importable
  callable) compare which two values of an item, e.g. ``{"name": "SSIM cycle", "metric": {...}, "pred": "rec",
  "target": "input"}``; set metrics (FID / KID) compare the translations with a set of real images;
* ``figures``: panel figures of named values (``fake``, ``target``, ``rec``, ``input``, ...);
* ``real_images``: where the real target-domain images of set metrics come from;
* ``derived``: further named values computed from others by a transform, e.g. ``{"name": "output_median", "source":
  "output", "transform": {"_target_": "monai.transforms.MedianSmooth", "radius": 1}}`` (post-processing of the
  output, or a classical baseline applied to the input), which metrics and figures then name like any other value.

A pass can also *corrupt* its inputs (``corrupt``: a transform such as
:class:`~medtranslate.transforms.RandSpeckle`, ``draws`` times per image): the network input of the clean image then
becomes the sample's ``target`` and the corrupted copy its ``input``, so a restoration network is scored against the
clean image. Random corruptions are seeded once per run from ``seed`` and drawn in item order, so runs are
reproducible and comparable across checkpoints.

For each input the workflow builds a *sample* of named values: ``image`` (the loaded input, its units), ``input``
(the network input), ``fake`` (the translation, network range), ``output`` (the translation in output units, where
the direction has an ``output_transform``), ``rec`` (the round trip through the direction's back network),
``target_image`` / ``target`` (the paired image in its units / in network range; the clean input for a corrupting
pass), the ``derived`` values, and every other key of the datalist item (a ground-truth file such as a vessel mask,
loaded on first use). A metric entry names its ``pred`` and ``target`` among these; an item without one of them is
skipped by that metric. See docs/evaluation.md.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor

from medtranslate.data import datalist_split, load_datalist
from medtranslate.errors import ConfigError, MedTranslateError
from medtranslate.inferers import ResizeNetwork
from medtranslate.io import load_image
from medtranslate.metrics.figures import save_panel_figure
from medtranslate.metrics.report import write_report
from medtranslate.workflows.translation import TranslationDirection, load_direction_weights

__all__ = ["EvaluationWorkflow", "EvaluationPass", "MetricEntry", "FigureEntry", "DerivedValue"]

logger = logging.getLogger(__name__)

#: keys of a sample that the workflow computes (every other key is read from the datalist item).
COMPUTED_KEYS = ("image", "input", "fake", "output", "rec", "target_image", "target")


def _tensor(x: Any) -> torch.Tensor:
    return x.as_tensor() if isinstance(x, MetaTensor) else torch.as_tensor(x)


def _listed(value: str | Sequence[str] | None) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


@dataclass
class EvaluationPass:
    """One set of inputs translated in one direction (a group of the report).

    Args:
        direction: the direction's name in ``directions``.
        name: the report group (default: the direction name).
        split: datalist split(s) of the inputs.
        section: datalist section of the inputs (``"domain_a"``, ``"domain_b"``).
        pairs: ``(input key, target key)`` in the datalist's ``pairs`` section (``("a", "b")``): paired inputs are
            added to the inputs and their partner becomes the sample's ``target``.
        target_transform: the paired image's units -> network range (e.g. the other direction's input transform).
        target_check: check of the paired image (``check(image, name) -> warnings``).
        cycle: also translate back with the direction's ``back_network`` (the sample's ``rec``).
        group_key: a datalist item key whose value names a further report group (e.g. ``"W Ref"``).
        names: ``(source, target)`` domain names for ``{source}`` / ``{target}`` in metric and figure names.
        images: image files evaluated in this pass besides the datalist's items (give ``split: []`` for these only).
        corrupt: a transform of the network input (e.g. ``RandSpeckle``): the clean network input becomes the
            sample's ``target`` and the corrupted one its ``input`` (not with ``pairs``).
        draws: corrupted copies per image (each one an item of the report's ``n``).

    Raises:
        ConfigError: for ``corrupt`` with ``pairs``, or ``draws`` < 1.
    """

    direction: str
    name: str | None = None
    split: str | Sequence[str] = "test"
    section: str = "domain_a"
    pairs: Sequence[str] | None = None
    target_transform: Callable[[Any], Any] | None = None
    target_check: Callable[..., Any] | None = None
    cycle: bool = True
    group_key: str | None = None
    names: Sequence[str] = ("A", "B")
    images: Sequence[str | os.PathLike] = ()
    corrupt: Callable[[Any], Any] | None = None
    draws: int = 1

    def __post_init__(self) -> None:
        if self.corrupt is not None and self.pairs:
            raise ConfigError(None, f"pass {self.group!r}: corrupt makes the clean image the target; drop pairs")
        if int(self.draws) < 1:
            raise ConfigError(None, f"pass {self.group!r}: draws must be at least 1, not {self.draws}")
        self.draws = int(self.draws)

    @property
    def group(self) -> str:
        """The report group of every item of this pass."""
        return self.name or self.direction

    def fmt(self, text: str) -> str:
        """``text`` with ``{source}``, ``{target}`` and ``{direction}`` filled in."""
        source, target = self.names
        return text.format(source=source, target=target, direction=self.direction)


@dataclass
class MetricEntry:
    """One metric of an evaluation (see the module docstring).

    Args:
        name: the report name (``{source}`` / ``{target}`` are filled in from the pass).
        metric: per item ``metric(pred, target[, mask=...]) -> float | list[float] | None``; with
            ``reduce="set"``, ``metric(preds, targets) -> {name: entry}`` once per group (FID / KID).
        pred: sample key of the prediction (``"fake"``, ``"output"``, ``"rec"``, ...).
        target: sample key of the reference (``"target"``, ``"input"``, a datalist key, or ``"real"`` for the
            workflow's ``real_images`` in a set metric).
        mask: sample key passed as ``mask=`` (e.g. the network input that decides which slices count).
        reduce: ``"mean"`` (pool the per-item values: mean, std, n) or ``"set"``.
        prepare: applied to each ``pred`` value of a set metric, returning a list of images (e.g. projections).
        prepare_target: likewise for the targets (default: ``prepare``).
        passes: the pass names this metric applies to (default: all).
        units: written beside the value (``"dB"``, ``"HU"``).
    """

    name: str
    metric: Callable[..., Any]
    pred: str
    target: str
    mask: str | None = None
    reduce: str = "mean"
    prepare: Callable[[Any], list[Any]] | None = None
    prepare_target: Callable[[Any], list[Any]] | None = None
    passes: Sequence[str] | None = None
    units: str | None = None

    def __post_init__(self) -> None:
        if self.reduce not in ("mean", "set"):
            raise ConfigError(None, f"metric {self.name!r}: reduce must be 'mean' or 'set', not {self.reduce!r}")


@dataclass
class FigureEntry:
    """A one-row panel figure of one slice of the first item of a pass that has every panel's value.

    Args:
        file: PNG name in ``output_dir`` (``{direction}`` etc. are filled in).
        panels: ``(title, sample key)`` pairs, e.g. ``("generated {target}", "fake")``.
        slice_axis: slicing axis among the spatial axes (the slice with most foreground of ``input`` is shown).
        value_range: display range of every panel (``None``: each panel's 1-99th percentile).
        background: level at or below which an ``input`` voxel is background.
        passes: the pass names to draw it for (default: all).
    """

    file: str
    panels: Sequence[Sequence[str]]
    slice_axis: int = 2
    value_range: Sequence[float] | None = (-1.0, 1.0)
    background: float = -0.95
    passes: Sequence[str] | None = None


@dataclass
class DerivedValue:
    """A named sample value computed from another one (post-processing, or a classical baseline).

    Args:
        name: the new sample key (not one of the computed keys: ``image``, ``input``, ``fake``, ...).
        source: the sample key it is computed from (``"output"``, ``"input"``, an earlier derived value, ...).
        transform: channel-first image -> image, e.g. MONAI's ``MedianSmooth``.
        passes: the pass names it is computed for (default: all).

    Raises:
        ConfigError: when ``name`` is a computed key.
    """

    name: str
    source: str
    transform: Callable[[Any], Any]
    passes: Sequence[str] | None = None

    def __post_init__(self) -> None:
        if self.name in COMPUTED_KEYS:
            raise ConfigError(None, f"derived value {self.name!r} would replace a computed value; rename it")


def _entry(cls: type, spec: Any) -> Any:
    if isinstance(spec, cls):
        return spec
    if not isinstance(spec, Mapping):
        raise ConfigError(None, f"an evaluation {cls.__name__} must be a mapping, not {type(spec).__name__}")
    try:
        return cls(**spec)
    except TypeError as e:
        raise ConfigError(None, f"bad evaluation {cls.__name__} {dict(spec)!r}: {e}") from e


def summarize(values: Sequence[float], units: str | None = None) -> dict[str, Any]:
    """The report entry of pooled values: mean, population std, count (and units).

    Args:
        values: the values (non-finite ones are dropped).
        units: written beside the value.
    """
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    entry: dict[str, Any] = {"value": float(arr.mean()) if arr.size else None, "n": int(arr.size)}
    entry["std"] = float(arr.std()) if arr.size else None
    if units:
        entry["units"] = units
    return entry


@dataclass
class _Group:
    values: dict[str, list[float]] = field(default_factory=dict)
    preds: dict[str, list[Any]] = field(default_factory=dict)
    targets: dict[str, list[Any]] = field(default_factory=dict)
    n_items: int = 0


class EvaluationWorkflow:
    """Translate a datalist's test images and compute the declared metrics and figures (see the module docstring).

    Args:
        directions: the :class:`~medtranslate.workflows.TranslationDirection` objects by name.
        datalist: datalist JSON (``medtranslate.data`` format) or an already loaded one; ``None`` when the passes
            list their ``images``.
        output_dir: where ``metrics.json``, ``metrics.md`` and the figures go.
        translator: the inferer (``translator(network, volume, name)``), e.g. a ``SliceTranslator``.
        passes: :class:`EvaluationPass` mappings.
        metrics: :class:`MetricEntry` mappings, in report order.
        checkpoint: trainer checkpoint (or folder) holding the networks; ``None`` keeps the networks' weights.
        device: where the networks run.
        resize: size the networks run at (:class:`~medtranslate.inferers.ResizeNetwork`), ``None`` for none.
        resize_mode: interpolation of the resizing.
        real_images: for set metrics with ``target: "real"``: ``{"split": [...], "section": "domain_b",
            "transform": callable}``; the first listed split that has images is used.
        figures: :class:`FigureEntry` mappings.
        reference: published numbers added to the report as their own group.
        title: report title.
        derived: :class:`DerivedValue` mappings, computed in order after the translation.
        seed: random state of the passes' random ``corrupt`` transforms, set once per run (``None``: leave it).

    Raises:
        ConfigError: on an unknown direction or a malformed entry.
    """

    def __init__(
        self,
        directions: Mapping[str, TranslationDirection],
        datalist: str | os.PathLike | Mapping[str, Any] | None,
        output_dir: str | os.PathLike,
        translator: Any,
        passes: Sequence[Mapping[str, Any] | EvaluationPass],
        metrics: Sequence[Mapping[str, Any] | MetricEntry],
        checkpoint: str | os.PathLike | None = None,
        device: str | torch.device | None = None,
        resize: Sequence[int] | None = None,
        resize_mode: str = "bilinear",
        real_images: Mapping[str, Any] | None = None,
        figures: Sequence[Mapping[str, Any] | FigureEntry] = (),
        reference: Mapping[str, Any] | None = None,
        title: str = "Evaluation",
        derived: Sequence[Mapping[str, Any] | DerivedValue] = (),
        seed: int | None = 0,
    ) -> None:
        self.directions = dict(directions)
        self.passes = [_entry(EvaluationPass, p) for p in passes]
        for p in self.passes:
            if p.direction not in self.directions:
                have = ", ".join(self.directions)
                raise ConfigError(None, f"evaluation direction {p.direction!r} is not defined (have: {have})")
        self.metrics = [_entry(MetricEntry, m) for m in metrics]
        self.figures = [_entry(FigureEntry, f) for f in figures]
        self.derived = [_entry(DerivedValue, v) for v in derived]
        self.seed = None if seed is None else int(seed)
        self.datalist = datalist
        self.output_dir = Path(output_dir)
        self.translator = translator
        self.checkpoint = None if checkpoint in (None, "") else Path(checkpoint)
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.resize = None if resize is None else tuple(int(s) for s in resize)
        self.resize_mode = resize_mode
        self.real_images = dict(real_images or {})
        self.reference = dict(reference or {})
        self.title = title
        self.report_paths: list[Path] = []
        self.failed: list[str] = []
        self.results: dict[str, Any] = {}

    # ---------------------------------------------------------------- set-up
    def _networks(self) -> dict[int, Any]:
        """Load the weights once per network and wrap each for the device and size; keyed by ``id(network)``."""
        nets: dict[int, Any] = {}
        loaded: set[int] = set()
        for p in self.passes:
            d = self.directions[p.direction]
            if self.checkpoint is not None and id(d) not in loaded:
                load_direction_weights(d, self.checkpoint)
                loaded.add(id(d))
            for net in (d.network, d.back_network if p.cycle else None):
                if net is not None and id(net) not in nets:
                    net.to(self.device).eval()
                    nets[id(net)] = ResizeNetwork(net, self.resize, self.resize_mode) if self.resize else net
        if self.checkpoint is None:
            logger.warning("no checkpoint given: evaluating the networks' current (possibly untrained) weights")
        return nets

    def _datalist(self) -> tuple[Mapping[str, Any], Path]:
        if self.datalist in (None, ""):
            return {}, Path(".")
        if isinstance(self.datalist, Mapping):
            return self.datalist, Path(".")
        path = Path(self.datalist)
        return load_datalist(path), path.parent

    def _items(self, dl: Mapping[str, Any], p: EvaluationPass) -> list[tuple[dict[str, Any], str | None]]:
        """``(datalist item, paired target path or None)`` of every input of a pass."""
        items: list[tuple[dict[str, Any], str | None]] = []
        seen: dict[str, int] = {}
        for split in _listed(p.split):
            for item in datalist_split(dl, split, p.section, missing_ok=True):
                seen[item["image"]] = len(items)
                items.append((dict(item), None))
            if p.pairs:
                src, dst = p.pairs
                for pair in datalist_split(dl, split, "pairs", missing_ok=True):
                    extra = {k: v for k, v in pair.items() if k not in (src, dst)}
                    if pair[src] in seen:
                        i = seen[pair[src]]
                        items[i] = ({**extra, **items[i][0]}, pair[dst])
                    else:
                        seen[pair[src]] = len(items)
                        items.append(({**extra, "image": pair[src]}, pair[dst]))
        items += [({"image": str(path)}, None) for path in p.images]
        return items

    def _real(self, dl: Mapping[str, Any], base: Path) -> list[Any]:
        """The real target-domain images of set metrics (first listed split that has any), transformed."""
        spec = self.real_images
        transform = spec.get("transform")
        for split in _listed(spec.get("split", ("test", "validation", "training"))):
            found = datalist_split(dl, split, spec.get("section", "domain_b"), missing_ok=True)
            if not found:
                continue
            images = []
            for item in found:
                try:
                    image = load_image(item["image"], series_uid=item.get("series_uid"))
                    images.append(transform(image) if transform is not None else image)
                except MedTranslateError as e:
                    self.failed.append(str(e))
                    logger.error(str(e))
            return images
        where = ", ".join(_listed(spec.get("split", ("test", "validation", "training"))))
        raise ConfigError(self.datalist, f"has no real images ({spec.get('section', 'domain_b')}) in {where}")

    # ---------------------------------------------------------------- one item
    def _as_volume(self, image: Any) -> Any:
        axis = getattr(self.translator, "axis", None)
        if image.ndim == 3 and axis is not None:  # a single 2D slice: a one-slice volume for a slice translator
            image = image.unsqueeze(1 + int(axis))
        return image

    def _load(self, path: str, item: Mapping[str, Any], check: Callable[..., Any] | None) -> Any:
        image = load_image(path, series_uid=item.get("series_uid"))
        if check is not None:
            for w in check(image, path) or []:
                logger.warning(w)
        return self._as_volume(image)

    def _samples(
        self, p: EvaluationPass, item: dict[str, Any], partner: str | None, nets: dict[int, Any]
    ) -> Iterator[dict[str, Any]]:
        """The samples of one item: one, or ``draws`` corrupted copies of it with the clean input as ``target``."""
        d = self.directions[p.direction]
        path = item["image"]
        image = self._load(path, item, d.check)
        net_input = _tensor(d.input_transform(image))
        paired: dict[str, Any] = {}
        if partner is not None:
            paired["target_image"] = _tensor(self._load(partner, {}, p.target_check))
            target = (
                paired["target_image"] if p.target_transform is None else p.target_transform(paired["target_image"])
            )
            paired["target"] = _tensor(target)
        for _ in range(p.draws if p.corrupt is not None else 1):
            sample: dict[str, Any] = {"image": image, "input": net_input}
            if p.corrupt is not None:
                sample["target"], sample["input"] = net_input, _tensor(p.corrupt(net_input))
            sample["fake"] = _tensor(self.translator(nets[id(d.network)], sample["input"], path))
            if d.output_transform is not None:
                sample["output"] = _tensor(d.output_transform(sample["fake"]))
            if p.cycle and d.back_network is not None:
                sample["rec"] = _tensor(self.translator(nets[id(d.back_network)], sample["fake"], path))
            sample.update(paired)
            if "target" in sample and tuple(sample["target"].shape[1:]) != tuple(sample["fake"].shape[1:]):
                shapes = f"{tuple(sample['target'].shape)}, the translation {tuple(sample['fake'].shape)}"
                raise ConfigError(partner or path, f"target has shape {shapes}")
            for v in self.derived:
                if (v.passes is None or p.group in v.passes) and v.source in sample:
                    sample[v.name] = _tensor(v.transform(sample[v.source]))
            yield sample

    def _value(self, sample: dict[str, Any], item: Mapping[str, Any], key: str, base: Path) -> Any:
        """A sample value, loading a datalist ground-truth file on first use; ``None`` when the item has none."""
        if key in sample:
            return sample[key]
        if key in COMPUTED_KEYS or key in {v.name for v in self.derived} or not isinstance(item.get(key), str):
            return None
        path = Path(item[key])
        sample[key] = _tensor(self._as_volume(load_image(path if path.is_absolute() else base / path)))
        return sample[key]

    def _measure(
        self, p: EvaluationPass, sample: dict[str, Any], item: Mapping[str, Any], base: Path, groups: list[_Group]
    ) -> None:
        for m in self.metrics:
            if m.passes is not None and p.group not in m.passes:
                continue
            pred = self._value(sample, item, m.pred, base)
            if pred is None:
                continue
            name = p.fmt(m.name)
            if m.reduce == "set":
                images = m.prepare(pred) if m.prepare is not None else [pred]
                target = None if m.target == "real" else self._value(sample, item, m.target, base)
                for g in groups:
                    g.preds.setdefault(name, []).extend(images)
                    if target is not None:
                        prep = m.prepare_target or m.prepare
                        g.targets.setdefault(name, []).extend(prep(target) if prep is not None else [target])
                continue
            target = self._value(sample, item, m.target, base)
            if target is None:
                continue
            kwargs = {}
            if m.mask is not None:
                kwargs["mask"] = self._value(sample, item, m.mask, base)
            value = m.metric(pred, target, **kwargs)
            values = (
                [] if value is None else [float(v) for v in (value if isinstance(value, (list, tuple)) else [value])]
            )
            for g in groups:
                g.values.setdefault(name, []).extend(values)

    def _figure(self, f: FigureEntry, p: EvaluationPass, sample: dict[str, Any]) -> Path:
        def slices(v: torch.Tensor) -> torch.Tensor:
            return v.unsqueeze(0) if v.ndim == 3 else v.movedim(1 + f.slice_axis, 0)

        fg = slices((sample["input"] > f.background).float()).flatten(1).mean(1)
        k = int(torch.argmax(fg))
        panels = [(p.fmt(title), slices(sample[key].float())[k, 0].cpu().numpy().T) for title, key in f.panels]
        ranges = None if f.value_range is None else [tuple(f.value_range)] * len(panels)
        return save_panel_figure(panels, self.output_dir / p.fmt(f.file), value_ranges=ranges)

    # ---------------------------------------------------------------- the run
    def _summaries(self, groups: dict[str, _Group], main: set[str], real: list[Any] | None) -> dict[str, Any]:
        """Each group's report entries, in the order the metrics are declared."""
        real_images: dict[int, list[Any]] = {}
        results: dict[str, Any] = {}
        for gname, g in groups.items():
            out: dict[str, Any] = {}
            for m in self.metrics:
                for name in dict.fromkeys(p.fmt(m.name) for p in self.passes):
                    if m.reduce == "mean":
                        if g.values.get(name):
                            out[name] = summarize(g.values[name], m.units)
                        continue
                    if name not in g.preds:
                        continue
                    if m.target == "real":
                        if id(m) not in real_images:
                            prep = m.prepare_target or m.prepare
                            real_images[id(m)] = [x for r in real or [] for x in (prep(r) if prep else [r])]
                        targets = real_images[id(m)]
                    else:
                        targets = g.targets.get(name, [])
                    try:
                        out.update(m.metric(g.preds[name], targets))
                    except ConfigError as e:
                        if gname in main:
                            raise ConfigError(self.datalist, f"group {gname!r}: {e.problem}") from e
                        logger.warning(f"group {gname!r}: {e.problem}")
            results[gname] = out
        return results

    def run(self) -> dict[str, Any]:
        """Evaluate, write ``metrics.json`` / ``metrics.md`` (and figures) in ``output_dir``, return the results.

        Returns:
            ``{group: {metric: {"value", "std", "n", "units"} or a set metric's entry}, "reference": ...}``.

        Raises:
            ConfigError: when nothing could be evaluated.
        """
        nets = self._networks()
        dl, base = self._datalist()
        needs_real = any(m.reduce == "set" and m.target == "real" for m in self.metrics)
        real = self._real(dl, base) if needs_real else None
        groups: dict[str, _Group] = {}
        figures: list[Path] = []
        seeded: set[int] = set()
        for p in self.passes:
            if self.seed is not None and hasattr(p.corrupt, "set_random_state") and id(p.corrupt) not in seeded:
                p.corrupt.set_random_state(self.seed)  # once per run: passes sharing a transform share its stream
                seeded.add(id(p.corrupt))
        drawn: set[tuple[int, str]] = set()  # (figure, group): passes sharing a group share its figures
        for p in self.passes:
            items = self._items(dl, p)
            for item, partner in items:
                names = [p.group, *([str(item[p.group_key])] if p.group_key and p.group_key in item else [])]
                try:
                    for sample in self._samples(p, item, partner, nets):
                        targets = [groups.setdefault(n, _Group()) for n in dict.fromkeys(names)]
                        self._measure(p, sample, item, base, targets)
                        for g in targets:
                            g.n_items += 1
                        for i, f in enumerate(self.figures):
                            wanted = f.passes is None or p.group in f.passes
                            if wanted and (i, p.group) not in drawn and all(key in sample for _, key in f.panels):
                                figures.append(self._figure(f, p, sample))
                                drawn.add((i, p.group))
                except MedTranslateError as e:
                    self.failed.append(str(e))
                    logger.error(str(e))
        if not any(g.n_items for g in groups.values()):
            raise ConfigError(self.datalist, "nothing to evaluate: " + ("; ".join(self.failed) or "no test images"))
        results = self._summaries(groups, {p.group for p in self.passes}, real)
        if self.reference:
            results["reference"] = self.reference
        self.results = results
        json_path, md_path = write_report(results, self.output_dir, name="metrics", title=self.title)
        self.report_paths = [json_path, md_path, *figures]
        return results
