"""Run a bundle config from the command line: ``medtranslate translate`` and ``medtranslate evaluate``.

The parsers (:mod:`medtranslate.cli.translate`, :mod:`medtranslate.cli.evaluate`) stay light; the dispatcher imports
this module (MONAI's bundle workflow, torch) only when one of the two commands runs. Command-line options become
config overrides through one table, :data:`OVERRIDES`; ``--set KEY=VALUE`` adds any other key, checked against the
type of the config's own value so that a typo is one clear line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from monai.bundle import ConfigWorkflow

from medtranslate.errors import ConfigError, InputError, MedTranslateError
from medtranslate.modelio.bundle import (
    CHECKPOINTS_KEY,
    STAGES_KEY,
    checkpoint_settings,
    merge_settings,
    network_config_keys,
    stage_settings,
)

__all__ = [
    "OVERRIDES",
    "with_checkpoint_settings",
    "build_overrides",
    "check_device",
    "check_set_types",
    "evaluate",
    "parse_set_options",
    "register_pairs",
    "run_bundle_config",
    "synthesize",
    "translate",
]


def _unique(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(values))


#: command-line option (argparse ``dest``) -> (config key, conversion of its value); one table for both commands.
OVERRIDES: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "input": ("input_path", str),
    "input_rcm": ("input_rcm_path", str),
    "output": ("output_dir", str),
    "direction": ("direction", str),
    "checkpoint": ("checkpoint", str),
    "format": ("output_formats", _unique),
    "datalist": ("datalist", str),
    "device": ("device", str),
    "amp": ("amp", str),
    "num": ("num", int),
    "seed": ("seed", int),
    "overwrite": ("overwrite", bool),
    "resume": ("translator#skip_existing", bool),
    "depth_range": ("depth_range", list),
}


def parse_set_options(pairs: Sequence[str] | None) -> dict[str, Any]:
    """Turn ``["KEY=VALUE", ...]`` into overrides; each VALUE is read as JSON when it parses, else kept as text.

    Args:
        pairs: the ``--set`` arguments (``KEY`` may be a nested config id such as ``network_def#channels``).

    Returns:
        ``{KEY: value}``.

    Raises:
        ConfigError: on an argument without ``=`` or with an empty key.
    """
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(None, f"--set takes KEY=VALUE, got {pair!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def build_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The config overrides of the parsed options (those in :data:`OVERRIDES` that were given, then ``--set``).

    Args:
        args: the parsed command line.
    """
    overrides = {
        key: convert(getattr(args, dest))
        for dest, (key, convert) in OVERRIDES.items()
        if getattr(args, dest, None) not in (None, [], "")
    }
    overrides.update(parse_set_options(getattr(args, "set", None)))
    return overrides


def _kind(value: Any) -> str | None:
    """What a config value is, when a plain text override cannot replace it: "a number", "a list", ..."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "a list (JSON, e.g. [256, 256])"
    if isinstance(value, dict):
        return "a mapping (JSON)"
    return None


def _raw(config: Mapping[str, Any], key: str) -> Any:
    node: Any = config
    for part in key.split("#"):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def check_set_types(config_file: Path, overrides: Mapping[str, Any]) -> None:
    """Refuse a text override where the config holds a number, a list, a flag or a mapping (one line, not MONAI's).

    Args:
        config_file: the bundle config.
        overrides: ``--set`` overrides (text values that did not parse as JSON stay text).

    Raises:
        ConfigError: naming the key, the value and what it takes.
    """
    try:
        config = json.loads(config_file.read_text())
    except (OSError, ValueError):
        return  # MONAI reports an unreadable config itself
    for key, value in overrides.items():
        if not isinstance(value, str) or value.startswith(("$", "@", "%")):
            continue
        kind = _kind(_raw(config, key))
        if kind is not None:
            raise ConfigError(None, f"--set {key}={value}: {key} takes {kind} (the config has {_raw(config, key)!r})")


def check_device(device: Any) -> None:
    """Refuse a CUDA device that this torch cannot use, in one line (not MONAI's "Failed to evaluate ...").

    Args:
        device: the ``--device`` / ``device`` override (``"cuda"``, ``"cuda:1"``, ``"cpu"`` ...), or ``None``.

    Raises:
        ConfigError: when CUDA is asked for and not available; says whether this torch is a CPU build.
    """
    if not isinstance(device, str) or not device.strip().lower().startswith("cuda"):
        return
    if torch.cuda.is_available():
        return
    if torch.version.cuda is None:
        why = f"this torch ({torch.__version__}) is a CPU build; install a CUDA build of torch (see README.md)"
    else:
        why = f"this torch is built for CUDA {torch.version.cuda} but finds no GPU or driver"
    raise ConfigError(None, f"--device {device}: CUDA is not available: {why}; or use --device cpu")


logger = logging.getLogger(__name__)


def _read_config(config_file: Path) -> dict[str, Any]:
    try:
        config = json.loads(config_file.read_text())
    except (OSError, ValueError):
        return {}  # MONAI reports an unreadable config itself
    return config if isinstance(config, dict) else {}


def _carried(config: Mapping[str, Any], path: Any, overrides: Mapping[str, Any]) -> dict[str, Any] | None:
    """The settings one checkpoint override carries (a multi-stage output: its stages' merged), or ``None``."""
    stages = config.get(STAGES_KEY)
    try:
        carried = stage_settings(path, stages, decided=overrides, keys=config) if isinstance(stages, list) else None
        return checkpoint_settings(path) if carried is None else carried
    except InputError:
        return None  # the workflow names the problem, after it has checked the destination


def with_checkpoint_settings(config_file: Path, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The overrides plus the settings the checkpoint overrides carry (where the command line sets none).

    Precedence: an explicit option or ``--set`` > the checkpoints' settings > the config's own value. A setting that
    changes the config's value is logged. The checkpoints are the overrides of the config keys listed in its
    ``bundle_checkpoints`` (default ``["checkpoint"]``; confocal2he adds ``despeckle_checkpoint``). For a multi-stage
    bundle (the config lists ``bundle_stages``) a checkpoint may be the training output folder holding
    ``<stage>/checkpoints``: the stages' settings are merged. A missing or unreadable checkpoint adds nothing here:
    the workflow reports it once it has checked the output folder.

    Args:
        config_file: the bundle config that will run.
        overrides: the command line's overrides.

    Raises:
        ConfigError: when two stages or checkpoints disagree on a key the command line does not set.
    """
    config = _read_config(config_file)
    names = [name for name in _checkpoint_keys(config) if overrides.get(name)]
    if not names:
        return dict(overrides)
    sources = [(name, _carried(config, overrides[name], overrides)) for name in names]
    sources = [(name, carried) for name, carried in sources if carried is not None]
    carried = merge_settings(sources, config_file, decided=overrides, keys=config)
    settings = {k: v for k, v in carried.items() if k not in overrides and k in config}
    changed = [f"{k}={json.dumps(v)}" for k, v in settings.items() if config.get(k) != v]
    if changed:
        where = ", ".join(str(overrides[name]) for name, _ in sources)
        logger.info(f"{where}: the checkpoint's settings replace the config's: {', '.join(changed)}")
    return {**settings, **overrides}


def _checkpoint_keys(config: Mapping[str, Any]) -> list[str]:
    """The config keys naming checkpoints whose settings apply (``bundle_checkpoints``, default ``["checkpoint"]``)."""
    keys = config.get(CHECKPOINTS_KEY)
    return [str(k) for k in keys] if isinstance(keys, list) else ["checkpoint"]


def _weights_hint(error: MedTranslateError, config_file: Path) -> MedTranslateError:
    """Add to a "weights do not fit" error the config keys the networks are built from."""
    if "do not fit this network" not in error.problem:
        return error
    keys = network_config_keys(_read_config(config_file))
    if not keys:
        return error
    hint = (
        f"set the keys the networks are built from to the values it was trained with: {', '.join(keys)} "
        f"(--set {keys[0]}=...), or use a checkpoint written with its settings (docs/training.md)"
    )
    return type(error)(error.path, f"{error.problem}; {hint}")


def _medtranslate_cause(exc: BaseException) -> MedTranslateError | None:
    """The first MedTranslateError in an exception's cause chain (MONAI wraps errors raised while instantiating)."""
    seen = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        if isinstance(e, MedTranslateError):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


@contextlib.contextmanager
def _quiet_monai_bundle() -> Iterator[None]:
    """Silence MONAI's notice that no logging.conf is applied (the dispatcher already configured logging)."""
    logs = [logging.getLogger(name) for name in ("monai.bundle", "monai.bundle.workflows")]
    levels = [log.level for log in logs]
    for log in logs:
        log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for log, level in zip(logs, levels):
            log.setLevel(level)


def run_bundle_config(
    bundle: str | Path,
    config_name: str | Sequence[str],
    overrides: Mapping[str, Any],
    result_id: str | None = None,
) -> Any:
    """Run ``<bundle>/configs/<config_name>`` (initialize, run, finalize) with overrides; return a parsed item.

    ``bundle_root`` is set to the bundle folder. The bundle's logging.conf is not applied, because
    ``logging.config.fileConfig`` would silence medtranslate's own loggers.

    Args:
        bundle: the bundle folder (holding ``configs/``).
        config_name: e.g. ``"inference.json"`` or ``"evaluate.json"``; a list merges the configs in order, as
            ``python -m monai.bundle run --config_file "['train.json', 'train_paired.json']"`` does.
        overrides: config id -> value (``--key value`` of ``python -m monai.bundle run``).
        result_id: the config id whose parsed content is returned after the run (e.g. ``"translator"``).

    Returns:
        The parsed ``result_id`` item (the same object the run used), or the run's return value.

    Raises:
        InputError: when the bundle or its config is missing.
        MedTranslateError: any medtranslate error raised inside the config, unwrapped from MONAI's wrappers.
    """
    bundle = Path(bundle)
    configs = [bundle / "configs" / c for c in ([config_name] if isinstance(config_name, str) else config_name)]
    if not bundle.is_dir():
        raise InputError(bundle, "bundle folder not found")
    for path in configs:
        if not path.is_file():
            raise InputError(path, "this bundle has no such config")
    config = configs[0]
    overrides = with_checkpoint_settings(config, overrides)
    check_device(overrides.get("device"))
    meta = bundle / "configs" / "metadata.json"
    try:
        with _quiet_monai_bundle():
            wf = ConfigWorkflow(
                config_file=[str(c) for c in configs] if len(configs) > 1 else str(config),
                meta_file=str(meta) if meta.is_file() else None,
                logging_file=False,
                workflow_type=None,
                bundle_root=str(bundle),
                **dict(overrides),
            )
        wf.initialize()
        value = wf.run()
        result = wf.parser.get_parsed_content(result_id) if result_id else value
        wf.finalize()
        return result
    except Exception as e:
        cause = _medtranslate_cause(e)
        if cause is None:
            raise
        hinted = _weights_hint(cause, config)
        if hinted is e:
            raise
        raise hinted from e


def _run(args: argparse.Namespace, result_id: str) -> Any:
    overrides = build_overrides(args)
    check_set_types(Path(args.bundle) / "configs" / args.config, parse_set_options(args.set))
    return run_bundle_config(args.bundle, args.config, overrides, result_id=result_id)


def translate(args: argparse.Namespace) -> int:
    """``medtranslate translate``: run the bundle's ``translator`` and print a summary.

    Args:
        args: the parsed command line.

    Returns:
        0 when every input was translated, 1 when some failed.
    """
    workflow = _run(args, "translator")
    result = getattr(workflow, "result", None)
    if result is None:
        raise ConfigError(Path(args.bundle) / "configs" / args.config, "its 'translator' did not produce a result")
    n, bad = len(result.items), len(result.failed)
    shard = getattr(workflow, "shard", None)
    if shard is not None and not shard.is_main:  # under torchrun rank 0 speaks for all (the results are merged)
        return 0 if result.ok else 1
    print(f"translated {n - bad} of {n} input(s) into {args.output}; report: {result.report_path}")
    for row in result.failed:
        print(f"  failed: {row['error']}")
    return 0 if result.ok else 1


def evaluate(args: argparse.Namespace) -> int:
    """``medtranslate evaluate``: run the bundle's ``evaluator`` and print where the report went.

    Args:
        args: the parsed command line.

    Returns:
        0 when every item was evaluated, 1 when some failed.
    """
    evaluator = _run(args, "evaluator")
    paths = getattr(evaluator, "report_paths", None)
    if paths:
        print("evaluation report: " + ", ".join(str(p) for p in paths))
    failed = getattr(evaluator, "failed", None) or []
    for row in failed:
        print(f"  failed: {row}")
    return 1 if failed else 0


def register_pairs(args: argparse.Namespace) -> int:
    """``medtranslate register``: run the bundle's ``registration`` and print where the pairs went.

    Args:
        args: the parsed command line.

    Returns:
        0 when every counterpart was registered, 1 when some failed (each named; the others are written).
    """
    args.set = ["strict=false", *(args.set or [])]  # failed pairs are this command's report, not an exception
    result = _run(args, "registration")  # the workflow logs each pair
    n, bad = len(result.items), len(result.failed)
    pairs = f"pairs: {result.datalist}" if result.datalist else "no pairs written"
    print(f"registered {n - bad} of {n} counterpart(s); {pairs}; report: {result.report}")
    for row in result.failed:
        print(f"  failed: {row['error']}")
    return 1 if bad else 0


def synthesize(args: argparse.Namespace) -> int:
    """``medtranslate synthesize``: run the bundle's ``synthesizer`` and print where the pairs went.

    Args:
        args: the parsed command line.

    Returns:
        0 when every pair was written.
    """
    synthesizer = _run(args, "synthesizer")
    result = getattr(synthesizer, "result", None)
    if result is None:
        raise ConfigError(Path(args.bundle) / "configs" / args.config, "its 'synthesizer' did not produce a result")
    rate = len(result.pairs) / result.seconds if result.seconds > 0 else float("inf")
    print(
        f"synthesised {len(result.pairs)} pair(s) into {args.output} ({rate:.2f} pairs/s); manifest: {result.manifest}"
    )
    return 0
