"""The self-describing result of a training run: settings in every checkpoint, and a bundle in the model-zoo layout.

A bundle's ``train.json`` declares its ``bundle_settings``: the values a trained network depends on (image size,
normalisation windows and percentiles, slice or depth axis, channels, network widths and depths...). Training
(:class:`medtranslate.engines.BundleExportHandler`) stores them in every checkpoint under ``"settings"`` and writes,
beside the checkpoints, a bundle that runs without overrides::

    <output_dir>/configs/inference.json, evaluate.json   the source bundle's, with the settings' values written in
    <output_dir>/configs/metadata.json, logging.conf      metadata gains "medtranslate_training" (settings, source)
    <output_dir>/models/model.pt                          the generators' weights by key (g_ab, g_ba) + settings
    <output_dir>/docs/README.md                           the source bundle's model card + this run's settings

Which values win when they disagree: an explicit option or ``--set`` on the command line, then the settings the
checkpoint carries, then the bundle config's own values (docs/training.md).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from medtranslate import __version__
from medtranslate.errors import ConfigError, InputError
from medtranslate.modelio.checkpoint import atomic_save_torch, find_checkpoint, read_checkpoint, stage_checkpoint
from medtranslate.utils.atomic import atomic_path

__all__ = [
    "SETTINGS_KEY",
    "BUNDLE_CONFIGS",
    "plain_settings",
    "checkpoint_settings",
    "stage_settings",
    "merge_settings",
    "network_config_keys",
    "write_bundle_configs",
    "write_bundle_weights",
]

#: the checkpoint entry holding the run's settings.
SETTINGS_KEY = "settings"
#: the source bundle's files copied into the run's bundle (those that exist).
BUNDLE_CONFIGS: tuple[str, ...] = (
    "inference.json",
    "evaluate.json",
    "metadata.json",
    "logging.conf",
    "meta_schema.json",
)
#: the config key listing the stages of a multi-stage bundle (each trained into ``<output_dir>/<stage>/``).
STAGES_KEY = "bundle_stages"
#: the config key listing the config keys that name checkpoints whose settings apply (default ``["checkpoint"]``).
CHECKPOINTS_KEY = "bundle_checkpoints"
#: the bundle's weights, relative to its root (the model-zoo name).
MODEL_FILE = "models/model.pt"


def _is_plain(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def plain_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings as plain JSON values (what a ``weights_only`` checkpoint and a JSON config can hold).

    Args:
        settings: config key -> resolved value.

    Raises:
        ConfigError: for a value that is not plain data (a tensor, a network, a function...).
    """
    bad = [k for k, v in settings.items() if not _is_plain(v)]
    if bad:
        raise ConfigError(None, f"bundle_settings must be plain values (numbers, text, lists); not: {', '.join(bad)}")
    return {str(k): _jsonable(v) for k, v in settings.items()}


def checkpoint_settings(path: str | os.PathLike) -> dict[str, Any]:
    """The settings a checkpoint (file or folder: its newest) carries; ``{}`` for one written without them.

    Args:
        path: a checkpoint file, a checkpoint folder, or a bundle's ``models/model.pt``.

    Raises:
        InputError: when the checkpoint is missing or unreadable.
    """
    settings = read_checkpoint(find_checkpoint(path)).get(SETTINGS_KEY)
    return dict(settings) if isinstance(settings, Mapping) else {}


def stage_settings(
    path: str | os.PathLike, stages: Sequence[str], decided: Collection[str] = (), keys: Collection[str] | None = None
) -> dict[str, Any] | None:
    """The settings of a multi-stage training output (each stage's newest checkpoint in ``<path>/<stage>/checkpoints``),
    merged over the stages; ``None`` when ``path`` holds none of the stages (then it is one stage's checkpoint).

    Args:
        path: the training output folder (``--checkpoint`` of ``synthesize`` / ``translate``), or anything else.
        stages: the stage names (the config's ``bundle_stages``), e.g. ``["vae", "pix2pix", "edsr"]``.
        decided: keys set elsewhere (on the command line): the stages need not agree on them.
        keys: the keys wanted (those of the config that will run); default all.

    Raises:
        ConfigError: when two stages were trained with different values of one key (naming both), unless decided.
        InputError: when a stage's folder holds no readable checkpoint.
    """
    path = Path(path)
    found = [(stage, stage_checkpoint(path, stage)) for stage in stages]
    found = [(stage, p) for stage, p in found if p != path]
    if not found:
        return None
    return merge_settings([(stage, checkpoint_settings(folder)) for stage, folder in found], path, decided, keys)


def merge_settings(
    sources: Sequence[tuple[str, Mapping[str, Any]]],
    where: str | os.PathLike | None = None,
    decided: Collection[str] = (),
    keys: Collection[str] | None = None,
) -> dict[str, Any]:
    """Merge the settings of several checkpoints (stages, or the networks of one config), refusing disagreements.

    Args:
        sources: ``(name, settings)`` pairs, e.g. ``("vae", {...})`` or ``("despeckle_checkpoint", {...})``.
        where: the path named in the error.
        decided: keys set elsewhere (on the command line): the sources need not agree on them.
        keys: the keys wanted (those of the config that will run); default all.

    Raises:
        ConfigError: when two sources hold different values of one key that is not decided (naming both).
    """
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for name, settings in sources:
        for key, value in settings.items():
            if keys is not None and key not in keys:
                continue
            if key in merged and merged[key] != value and key not in decided:
                raise ConfigError(
                    where,
                    f"the trained networks disagree on {key}: {origin[key]} {json.dumps(merged[key])}, "
                    f"{name} {json.dumps(value)}; choose one with --set {key}=...",
                )
            merged.setdefault(key, value)
            origin.setdefault(key, name)
    return merged


def network_config_keys(config: Mapping[str, Any], prefix: str = "network_def", suffix: str = "_def") -> list[str]:
    """The config keys the network definitions (``network_def*``, ``*_def``) refer to with ``@key``: what to set when
    weights do not fit.

    Args:
        config: a raw (unparsed) bundle config.
        prefix: top-level keys starting with it are network definitions.
        suffix: top-level keys ending with it are network definitions too (``generator_def``, ``edsr_def``).
    """
    found: dict[str, None] = {}

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
        elif isinstance(node, str) and node.startswith("@"):
            found.setdefault(node[1:].split("#")[0], None)

    defs = [key for key in config if key.startswith(prefix) or key.endswith(suffix)]
    for key in defs:
        walk(config[key])
    return [k for k in found if k not in defs]


def _overlay_keys(overlay: Mapping[str, Any]) -> dict[str, Any]:
    """What a variant config gives the inference configs: its network definitions and the keys they refer to."""
    defs = {k: v for k, v in overlay.items() if k.startswith("network_def")}
    return {**defs, **{k: overlay[k] for k in network_config_keys(defs) if k in overlay}}


def _config_with_settings(
    config: dict[str, Any], settings: Mapping[str, Any], overlays: Sequence[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    out = dict(config)
    for overlay in overlays:
        out.update(_overlay_keys(overlay))
    for key, value in settings.items():
        if key in out:
            out[key] = value
    if "checkpoint" in out:
        out["checkpoint"] = f"$@bundle_root + '/{MODEL_FILE}'"
    out["bundle_root"] = "."
    return out


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_bundle_configs(
    source: str | os.PathLike,
    dest: str | os.PathLike,
    settings: Mapping[str, Any],
    files: Sequence[str] = BUNDLE_CONFIGS,
    overlays: Sequence[str | os.PathLike] = (),
    values: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Write the run's ``configs/`` (and ``docs/README.md``): the source bundle's, with the settings written in.

    Every top-level key of ``inference.json`` / ``evaluate.json`` that the settings name takes the settings' value;
    ``checkpoint`` points at ``models/model.pt``. A variant config the run was trained with (``overlays``, e.g.
    ``variants/unet.json``) first gives the inference configs its network definitions and the keys they refer to.
    ``metadata.json`` gains ``medtranslate_training`` (the settings, the source bundle, the variants, the
    medtranslate version and the date).

    Args:
        source: the bundle folder the run was started from (holding ``configs/``).
        dest: the run's output folder (the new bundle's root).
        settings: config key -> value, plain data.
        files: the names in ``configs/`` to write (missing ones are skipped).
        overlays: variant config files merged over ``train.json`` for this run.
        values: other config values for the written configs only (not settings: checkpoints do not carry them), e.g.
            the ``direction`` a stage's bundle runs by default.

    Returns:
        The files written.

    Raises:
        InputError: when the source bundle has no configs folder.
    """
    src, dst = Path(source) / "configs", Path(dest)
    if not src.is_dir():
        raise InputError(src, "the bundle that was trained has no configs folder to copy")
    settings = plain_settings(settings)
    extra = []
    for overlay in overlays:
        try:
            extra.append(json.loads(Path(overlay).read_text()))
        except (OSError, ValueError) as e:
            raise InputError(overlay, f"cannot read this variant config ({e})") from e
    written = []
    for name in files:
        path = src / name
        if not path.is_file():
            continue
        out = dst / "configs" / name
        if name == "metadata.json":
            meta = json.loads(path.read_text())
            meta["medtranslate_training"] = {
                "settings": settings,
                "source_bundle": os.path.abspath(Path(source)),
                "variants": [Path(o).name for o in overlays],
                "medtranslate": __version__,
                "written_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            }
            _write_text(out, json.dumps(meta, indent=4) + "\n")
        elif name.endswith(".json") and name != "meta_schema.json":
            config = _config_with_settings(
                json.loads(path.read_text()), {**settings, **plain_settings(values or {})}, extra
            )
            _write_text(out, json.dumps(config, indent=4) + "\n")
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(out) as tmp:
                shutil.copyfile(path, tmp)
        written.append(out)
    card = Path(source) / "docs" / "README.md"
    text = card.read_text() if card.is_file() else f"# {Path(source).name}\n"
    _write_text(dst / "docs" / "README.md", text.rstrip() + "\n\n" + _run_section(settings))
    written.append(dst / "docs" / "README.md")
    return written


def _run_section(settings: Mapping[str, Any]) -> str:
    """The model card's section about this run: its settings and how to use the folder."""
    rows = "\n".join(f"| `{k}` | `{json.dumps(v)}` |" for k, v in settings.items())
    return (
        "## This trained bundle\n\n"
        'Written by a medtranslate training run (docs/training.md, "A run is a bundle"): `configs/` hold the values '
        "the run used and `models/model.pt` its generators (the newest weights). No `--set` is needed:\n\n"
        "```bash\nmedtranslate translate --bundle THIS_FOLDER --input SCANS --output OUT\n"
        "python -m monai.bundle run --config_file configs/inference.json --input_path SCANS --output_dir OUT\n```\n\n"
        f"| setting | value |\n|---|---|\n{rows}\n"
    )


def write_bundle_weights(
    dest: str | os.PathLike, networks: Mapping[str, Mapping[str, Any]], settings: Mapping[str, Any]
) -> Path:
    """Write ``models/model.pt``: each network's state dict by checkpoint key, plus the settings (atomically).

    Args:
        dest: the bundle root.
        networks: key (``g_ab``, ``g_ba``, ``generator``) -> state dict.
        settings: the run's settings.

    Returns:
        The file written.
    """
    payload: dict[str, Any] = {k: dict(v) for k, v in networks.items()}
    payload[SETTINGS_KEY] = plain_settings(settings)
    return atomic_save_torch(payload, Path(dest) / MODEL_FILE)
