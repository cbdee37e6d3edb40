"""``medtranslate translate``: run a bundle's ``configs/inference.json`` on files, folders or DICOM series.

A thin wrapper: the options become config overrides (``input_path``, ``output_dir``, ``direction``, ``checkpoint``,
``output_formats``, ``device``, ``amp``, plus any ``--set KEY=VALUE``), the config is run with MONAI's
``ConfigWorkflow``, and the exit status says whether every input was translated (0), some failed (1), or the run could
not start (2). The translation itself is :class:`medtranslate.inferers.TranslationWorkflow`, which the config defines
under the id ``translator``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from medtranslate.errors import ConfigError, InputError, MedTranslateError
from medtranslate.io.batch import FORMATS as BATCH_FORMATS

__all__ = ["register", "run_bundle_config", "parse_set_options", "FORMATS"]

FORMATS = tuple(BATCH_FORMATS)  # the output formats of medtranslate.io.batch, which the workflow writes


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
    bundle: str | Path, config_name: str, overrides: Mapping[str, Any], result_id: str | None = None
) -> Any:
    """Run ``<bundle>/configs/<config_name>`` (initialize, run, finalize) with overrides; return a parsed item.

    ``bundle_root`` is set to the bundle folder. The bundle's logging.conf is not applied, because
    ``logging.config.fileConfig`` would silence medtranslate's own loggers.

    Args:
        bundle: the bundle folder (holding ``configs/``).
        config_name: e.g. ``"inference.json"`` or ``"evaluate.json"``.
        overrides: config id -> value (``--key value`` of ``python -m monai.bundle run``).
        result_id: the config id whose parsed content is returned after the run (e.g. ``"translator"``).

    Returns:
        The parsed ``result_id`` item (the same object the run used), or the run's return value.

    Raises:
        InputError: when the bundle or its config is missing.
        MedTranslateError: any medtranslate error raised inside the config, unwrapped from MONAI's wrappers.
    """
    from monai.bundle import ConfigWorkflow

    bundle = Path(bundle)
    config = bundle / "configs" / config_name
    if not bundle.is_dir():
        raise InputError(bundle, "bundle folder not found")
    if not config.is_file():
        raise InputError(config, "this bundle has no such config")
    meta = bundle / "configs" / "metadata.json"
    try:
        with _quiet_monai_bundle():
            wf = ConfigWorkflow(
                config_file=str(config),
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
    except MedTranslateError:
        raise
    except Exception as e:
        cause = _medtranslate_cause(e)
        if cause is not None:
            raise cause from e
        raise


def _translate(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {"input_path": str(args.input), "output_dir": str(args.output)}
    if args.direction:
        overrides["direction"] = args.direction
    if args.checkpoint:
        overrides["checkpoint"] = str(args.checkpoint)
    if args.format:
        overrides["output_formats"] = list(dict.fromkeys(args.format))
    if args.device:
        overrides["device"] = args.device
    if args.amp:
        overrides["amp"] = args.amp
    overrides.update(parse_set_options(args.set))
    workflow = run_bundle_config(args.bundle, args.config, overrides, result_id="translator")
    result = getattr(workflow, "result", None)
    if result is None:
        raise ConfigError(Path(args.bundle) / "configs" / args.config, "its 'translator' did not produce a result")
    n, bad = len(result.items), len(result.failed)
    print(f"translated {n - bad} of {n} input(s) into {args.output}; report: {result.report_path}")
    for row in result.failed:
        print(f"  failed: {row['error']}")
    return 0 if result.ok else 1


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``translate`` sub-command.

    Args:
        subparsers: the dispatcher's sub-parsers.

    Returns:
        The new parser.
    """
    p = subparsers.add_parser(
        "translate",
        help="translate images with a trained bundle",
        description="Translate every image file and DICOM series under --input with a bundle's configs/inference.json "
        "and write the results (with the input's geometry, marked synthetic) and a JSON report to --output.",
    )
    p.add_argument("--bundle", required=True, type=Path, help="bundle folder (e.g. bundles/ct2mri)")
    p.add_argument("--input", required=True, type=Path, help="image file, DICOM folder, or a tree of them")
    p.add_argument("--output", required=True, type=Path, help="output folder")
    p.add_argument("--direction", help="bundle-specific direction, e.g. ct2mr or mr2ct")
    p.add_argument("--checkpoint", type=Path, help="trained weights (a checkpoint file or a checkpoint folder)")
    p.add_argument("--format", action="append", choices=FORMATS, help="output format; repeat for several")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ...")
    p.add_argument("--amp", choices=("bf16", "fp16", "none"), help="mixed precision of the network forward pass")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="any other config override (JSON value)")
    p.add_argument("--config", default="inference.json", help="config file in <bundle>/configs (inference.json)")
    p.set_defaults(func=_translate)
    return p
