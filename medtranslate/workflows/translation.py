"""The one generic runtime that translates image files with a trained generator (bundles' ``inference.json``).

:class:`TranslationWorkflow` finds the inputs (:func:`medtranslate.io.find_series`), loads each one, validates it
with a bundle-supplied check, normalises it with an invertible intensity transform, runs the generator through a
:class:`~medtranslate.inferers.VolumeTranslator` or :class:`~medtranslate.inferers.SliceTranslator`, maps the output
to the target modality's units, and saves it with the input's geometry in every requested format (marked synthetic).
One bad input is one clear log line and one failed report row; the batch goes on. A JSON report of all items is
written in the output folder. See docs/bundles/ct2mri.md and docs/inference.md.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from monai.data import MetaTensor
from torch import nn

from medtranslate import __version__
from medtranslate.errors import ConfigError, InputError
from medtranslate.inferers import ResizeNetwork, cycle_consistency
from medtranslate.io import find_series, save_image
from medtranslate.io.batch import FORMATS, is_within, output_path, prepare_destination
from medtranslate.io.dicom_series import keep_parsed_headers
from medtranslate.modelio import find_checkpoint, load_network
from medtranslate.utils.distributed import current_shard
from medtranslate.workflows.batch_report import report_item_failure, write_batch_report

__all__ = [
    "TranslationDirection",
    "TranslationWorkflow",
    "TranslationResult",
    "TranslatedItem",
    "OUTPUT_SUFFIXES",
    "load_direction_weights",
]

logger = logging.getLogger(__name__)

#: file suffix written for each output format ("dicom" is a folder named by the item key): the table of ``convert``.
OUTPUT_SUFFIXES: dict[str, str] = FORMATS


@dataclass
class TranslationDirection:
    """What one translation direction needs (e.g. "ct2mr"): the generator and the units on both sides.

    Args:
        network: the generator (A -> B).
        input_transform: image units -> network range, e.g. :class:`~medtranslate.transforms.HUWindow` for CT.
        output_transform: network range -> output units, e.g. ``HUWindow(...).inverse`` to return HU; ``None`` keeps
            the network range (MR outputs stay in the normalised range).
        check: ``check(image, name) -> list[str]`` raising ``InputError`` for inputs that cannot be translated and
            returning warnings (e.g. :class:`~medtranslate.transforms.ModalityCheck`).
        modality: output modality written to DICOM (``"MR"``, ``"CT"``; ``None``: Secondary Capture).
        network_key: the key of ``network`` in a trainer checkpoint (``"g_ab"``, ``"g_ba"``).
        back_network: the reverse generator (B -> A) for the cycle-consistency error map (optional).
        back_network_key: its checkpoint key.
        output_dtype: cast the output before saving, e.g. ``"int16"`` for HU (rounded); ``None`` keeps float32.
        description: text added to the synthetic output's description (DICOM SeriesDescription, NIfTI descrip).
    """

    network: Any
    input_transform: Callable[[Any], Any]
    output_transform: Callable[[Any], Any] | None = None
    check: Callable[..., list[str]] | None = None
    modality: str | None = None
    network_key: str | None = None
    back_network: Any = None
    back_network_key: str | None = None
    output_dtype: str | None = None
    description: str | None = None


@dataclass
class TranslatedItem:
    """One translated input, handed to callbacks after its outputs are saved.

    Args:
        key: the item's output stem (from :func:`medtranslate.io.find_series`).
        source: the input file or the first file of its DICOM series.
        image: the loaded input (its own units, with a slice axis added for 2D inputs to slice-wise networks).
        normalized: the network input (network range).
        translated: the network output (network range), on the input grid.
        output: what was saved (output units).
        output_dir: the run's output folder.
        direction: the direction name.
    """

    key: str
    source: Path
    image: Any
    normalized: Any
    translated: Any
    output: Any
    output_dir: Path
    direction: str | None


@dataclass
class TranslationResult:
    """Outcome of :meth:`TranslationWorkflow.run`.

    Args:
        items: one report row per input (``key``, ``input``, ``ok``, ``error``, ``warnings``, ``outputs``, ...).
        report_path: the JSON report.
    """

    items: list[dict[str, Any]] = field(default_factory=list)
    report_path: Path | None = None

    @property
    def ok(self) -> bool:
        """``True`` when every input was translated."""
        return all(item["ok"] for item in self.items)

    @property
    def failed(self) -> list[dict[str, Any]]:
        """Report rows of the inputs that failed."""
        return [item for item in self.items if not item["ok"]]


def load_direction_weights(direction: TranslationDirection, checkpoint: str | os.PathLike) -> Path:
    """Load a direction's generator (and reverse generator) weights from a trainer checkpoint or a folder of them.

    Args:
        direction: the direction; its ``network_key`` (and ``back_network_key``) name the checkpoint entries.
        checkpoint: a checkpoint file, or a folder whose newest ``checkpoint_*.pt`` is used.

    Returns:
        The file loaded.

    Raises:
        InputError: when the checkpoint is missing or holds no fitting weights.
    """
    resolved = find_checkpoint(checkpoint)
    pairs = [(direction.network, direction.network_key or "g_ab")]
    if direction.back_network is not None:
        pairs.append((direction.back_network, direction.back_network_key or "g_ba"))
    for net, key in pairs:
        load_network(net, resolved, key)  # torch.load(..., weights_only=True)
    return resolved


def _plain(x: Any) -> Any:
    """A MetaTensor without its transform history (a network output carries no normalisation of its own)."""
    if isinstance(x, MetaTensor):
        return MetaTensor(x.as_tensor(), meta=dict(x.meta))
    return x


def cast_output(x: Any, dtype: str | None) -> Any:
    """``x`` (a tensor) in ``dtype`` (a torch dtype name): rounded and clipped to an integer type's range first.

    Args:
        x: the values.
        dtype: e.g. ``"int16"``, ``"uint8"`` or ``"float32"``; ``None`` returns ``x`` as it is.

    Raises:
        ConfigError: for a name that is not a torch dtype.
    """
    if dtype is None:
        return x
    tdtype = getattr(torch, dtype, None)
    if not isinstance(tdtype, torch.dtype):
        raise ConfigError(None, f"unknown output_dtype {dtype!r}")
    if not tdtype.is_floating_point:
        info = torch.iinfo(tdtype)
        x = torch.round(x).clamp(info.min, info.max)
    return x.to(tdtype)


class TranslationWorkflow:
    """Translate every image under ``input_path`` and save the results in ``output_dir`` (see module docstring).

    Args:
        directions: the available directions by name (or a single :class:`TranslationDirection`).
        direction: the name of the direction to run (may be ``None`` when there is only one).
        input_path: an image file, a DICOM folder, or a folder tree of images and series.
        output_dir: where outputs and the report go (``<key>.nii.gz``, ``<key>.tif``, ``<key>/`` for DICOM, ...).
        translator: a :class:`~medtranslate.inferers.VolumeTranslator` or
            :class:`~medtranslate.inferers.SliceTranslator` (its ``device`` / ``amp`` settings apply).
        checkpoint: trainer checkpoint (or folder) the weights are loaded from with ``weights_only=True``; ``None``
            uses the networks as they are (a warning is logged).
        output_formats: any of ``"nifti"``, ``"dicom"``, ``"tiff"``, ``"nrrd"``, ``"mha"``, ``"png"``.
        device: device the networks are moved to (``"cpu"``, ``"cuda"``); default: the translator's device, else cpu.
        resize: spatial size the network runs at (e.g. ``(256, 256)`` for slices); ``None`` runs at the input size.
        resize_mode: interpolation of :class:`ResizeNetwork`.
        cycle_map: also write the cycle-consistency error map ``<key>_cycle_error.nii.gz`` (needs a back network).
        callbacks: ``callback(item: TranslatedItem) -> list[path]`` run after an item is saved, returning the extra
            files written (en-face projections, figures).
        anonymize: DICOM outputs without patient identity (see docs/io.md).
        report_name: file name of the JSON report in ``output_dir``.
        skip_existing: leave an item whose outputs all exist (outputs appear only once complete), e.g. to resume an
            interrupted run; its report row says ``"skipped": true``.

    Under ``torchrun`` (``RANK`` / ``WORLD_SIZE`` set) the inputs are shared among the processes
    (:mod:`medtranslate.utils.distributed`): each one translates its own items, on ``cuda:LOCAL_RANK`` when the
    device is CUDA, and rank 0 writes the report of all of them.

    Raises:
        ConfigError: on an unknown direction or output format.
    """

    def __init__(
        self,
        directions: Mapping[str, TranslationDirection] | TranslationDirection,
        direction: str | None,
        input_path: str | os.PathLike,
        output_dir: str | os.PathLike,
        translator: Any,
        checkpoint: str | os.PathLike | None = None,
        output_formats: Sequence[str] | str = ("nifti",),
        device: str | torch.device | None = None,
        resize: Sequence[int] | None = None,
        resize_mode: str = "bilinear",
        cycle_map: bool = False,
        callbacks: Sequence[Callable[[TranslatedItem], Any]] = (),
        anonymize: bool = False,
        report_name: str = "translate_report.json",
        skip_existing: bool = False,
    ) -> None:
        if isinstance(directions, TranslationDirection):
            directions = {direction or "default": directions}
        self.directions = dict(directions)
        if direction is None and len(self.directions) == 1:
            direction = next(iter(self.directions))
        if direction not in self.directions:
            raise ConfigError(
                None, f"unknown direction {direction!r}; this bundle translates: {', '.join(self.directions)}"
            )
        self.direction_name = direction
        self.direction = self.directions[direction]
        formats = [output_formats] if isinstance(output_formats, str) else list(output_formats)
        bad = [f for f in formats if f not in OUTPUT_SUFFIXES]
        if bad or not formats:
            raise ConfigError(None, f"unknown output format(s) {bad}; choose from {', '.join(OUTPUT_SUFFIXES)}")
        self.output_formats = list(dict.fromkeys(formats))
        self.input_path = Path(input_path)
        self.output_dir = Path(output_dir)
        self.translator = translator
        self.checkpoint = None if checkpoint in (None, "") else Path(checkpoint)
        translator_device = getattr(translator, "sw_device", None) or getattr(translator, "device", None)
        self.device = torch.device(device) if device is not None else (translator_device or torch.device("cpu"))
        self.resize = None if resize is None else tuple(int(s) for s in resize)
        self.resize_mode = resize_mode
        self.cycle_map = bool(cycle_map)
        if self.cycle_map and self.direction.back_network is None:
            raise ConfigError(None, f"direction {direction!r} has no back_network, so no cycle map can be made")
        self.callbacks = list(callbacks)
        self.anonymize = bool(anonymize)
        self.report_name = report_name
        self.skip_existing = bool(skip_existing)
        self.shard = current_shard()
        if self.shard.distributed and self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", self.shard.local_rank % max(torch.cuda.device_count(), 1))
            torch.cuda.set_device(self.device)  # a translator configured for "cuda" runs on this rank's GPU too
        self.result: TranslationResult | None = None
        self.checkpoint_loaded: Path | None = None

    # ---------------------------------------------------------------- set-up
    def _prepare_networks(self) -> tuple[nn.Module, nn.Module | None]:
        d = self.direction
        if self.checkpoint is not None:
            self.checkpoint_loaded = load_direction_weights(d, self.checkpoint)
        else:
            logger.warning("no checkpoint given: translating with the networks' current (possibly untrained) weights")
        nets = []
        for net in (d.network, d.back_network):
            if net is None:
                nets.append(None)
                continue
            net = net.to(self.device).eval()
            nets.append(ResizeNetwork(net, self.resize, self.resize_mode) if self.resize else net)
        return nets[0], nets[1]

    def _output_paths(self, key: str) -> dict[str, Path]:
        return {fmt: output_path(self.output_dir, key, fmt) for fmt in self.output_formats}

    def _cycle_map_path(self, key: str) -> Path:
        return self.output_dir / f"{key}_cycle_error.nii.gz"

    def _replaced_input(self, ref: Any, inputs: set[Path]) -> Path | None:
        """The output of ``ref`` that would replace (or hold) an input file, if any."""
        outs = list(self._output_paths(ref.key).values())
        if self.cycle_map:
            outs.append(self._cycle_map_path(ref.key))
        for out in outs:
            absout = Path(os.path.abspath(out))
            if any(p == absout or is_within(p, absout) for p in inputs):
                return out
        return None

    def _finished(self, ref: Any) -> bool:
        outs = list(self._output_paths(ref.key).values())
        if self.cycle_map:
            outs.append(self._cycle_map_path(ref.key))
        return all(p.exists() for p in outs)

    # ---------------------------------------------------------------- one item
    def _translate_one(self, ref: Any, forward: nn.Module, backward: nn.Module | None, row: dict[str, Any]) -> None:
        d = self.direction
        source = str(ref.paths[0].parent if ref.kind == "dicom" else ref.paths[0])
        image = ref.load()
        if d.check is not None:
            for w in d.check(image, source) or []:
                logger.warning(w)
                row["warnings"].append(w)
        squeeze_axis = None
        slice_axis = getattr(self.translator, "axis", None)
        if image.ndim - 1 == 2 and slice_axis is not None and self.translator.spatial_dims == 3:
            squeeze_axis = 1 + slice_axis  # a single slice: translate it as a one-slice volume
            image = image.unsqueeze(squeeze_axis)
        elif image.ndim - 1 != self.translator.spatial_dims:
            raise InputError(
                source, f"is {image.ndim - 1}D, the translator expects {self.translator.spatial_dims}D images"
            )
        row["shape"] = list(image.shape[1:])
        normalized = d.input_transform(image)
        error = None
        if self.cycle_map and backward is not None:  # one implementation of the map: inferers.cycle
            cycle = cycle_consistency(forward, backward, normalized, self.translator, source)
            translated, error = _plain(cycle.translated), _plain(cycle.error)
        else:
            translated = _plain(self.translator(forward, normalized, source))
        output = translated
        if d.output_transform is not None:
            output = d.output_transform(translated)
        output = cast_output(output, d.output_dtype)
        if not torch.isfinite(output.float() if isinstance(output, torch.Tensor) else torch.as_tensor(output)).all():
            raise InputError(source, "the network produced NaN or infinite values (a broken checkpoint?)")
        save_img, save_ref = output, image
        if squeeze_axis is not None:
            save_img, save_ref = output.squeeze(squeeze_axis), ref.load()
        for fmt, path in self._output_paths(ref.key).items():
            written = save_image(
                save_img,
                path,
                fmt=fmt,
                reference=save_ref,
                synthetic=True,
                description=d.description,
                modality=d.modality,
                anonymize=self.anonymize,
            )
            row["outputs"].append(str(written))
        if error is not None:  # the error carries the network input's geometry (a depth_range slab, not the stack)
            if squeeze_axis is not None:
                error = error.squeeze(squeeze_axis)
            written = save_image(error, self._cycle_map_path(ref.key), reference=save_ref)
            row["outputs"].append(str(written))
            row["cycle_error_mean"] = float(error.mean())
        item = TranslatedItem(
            ref.key, Path(source), image, normalized, translated, output, self.output_dir, self.direction_name
        )
        for callback in self.callbacks:
            extra = callback(item) or []
            row["outputs"].extend(str(p) for p in ([extra] if isinstance(extra, (str, Path)) else extra))

    # ---------------------------------------------------------------- the run
    def run(self) -> TranslationResult:
        """Translate every input, write the report, and return the result (``.ok`` is ``False`` if any failed).

        Raises:
            InputError: when the input path does not exist or holds no image.
        """
        if not self.input_path.exists():
            raise InputError(self.input_path, "input not found")
        prepare_destination(self.output_dir)  # a destination we cannot write fails once, before any model is loaded
        with keep_parsed_headers():  # the headers that discovery parses serve the loads (each DICOM file parsed once)
            result = self._run_items()
        if self.shard.distributed:  # every rank's rows, in discovery order, on every rank
            rows = sorted((r for part in self.shard.gather(result.items) for r in part), key=lambda r: r["index"])
            result = TranslationResult(items=rows)
        path = self.output_dir / self.report_name
        result.report_path = self._write_report(result) if self.shard.is_main else path
        self.result = result
        return result

    def _find_inputs(self) -> list[Any]:
        """The inputs, without the outputs of earlier runs when the output folder lies inside the input tree."""
        refs = find_series(self.input_path)
        absout = Path(os.path.abspath(self.output_dir))
        if self.input_path.is_dir() and is_within(absout, Path(os.path.abspath(self.input_path))):
            refs = [ref for ref in refs if not all(is_within(Path(os.path.abspath(p)), absout) for p in ref.paths)]
        if not refs:
            raise InputError(self.input_path, "holds no image file or DICOM series")
        return refs

    def _run_items(self) -> TranslationResult:
        refs = self._find_inputs()
        inputs = {Path(os.path.abspath(p)) for ref in refs for p in ref.paths}
        forward, backward = self._prepare_networks()
        result = TranslationResult()
        for index, ref in enumerate(refs):
            if not self.shard.owns(index):
                continue
            row: dict[str, Any] = {
                "index": index,
                "key": ref.key,
                "input": str(ref.paths[0].parent if ref.kind == "dicom" else ref.paths[0]),
                "ok": False,
                "error": None,
                "warnings": [],
                "outputs": [],
            }
            start = time.perf_counter()
            with report_item_failure(row, row["input"], logger):
                replaced = self._replaced_input(ref, inputs)
                if replaced is not None:
                    raise InputError(
                        row["input"], f"the output {replaced} would replace an input; choose another --output"
                    )
                if self.skip_existing and self._finished(ref):
                    row.update(ok=True, skipped=True, outputs=[str(p) for p in self._output_paths(ref.key).values()])
                    logger.info(f"{row['input']}: skipped, its outputs exist")
                    result.items.append(row)
                    continue
                self._translate_one(ref, forward, backward, row)
                row["ok"] = True
                logger.info(f"{row['input']}: translated ({self.direction_name}) -> {', '.join(row['outputs'])}")
            row["seconds"] = round(time.perf_counter() - start, 3)
            result.items.append(row)
        return result

    def _write_report(self, result: TranslationResult) -> Path:
        report = {
            "medtranslate_version": __version__,
            "direction": self.direction_name,
            "input": str(self.input_path),
            "output_dir": str(self.output_dir),
            "checkpoint": None if self.checkpoint_loaded is None else str(self.checkpoint_loaded),
            "output_formats": self.output_formats,
            "device": str(self.device),
        }
        return write_batch_report(self.output_dir / self.report_name, report, result.items)
