"""``medtranslate translate``: run a bundle's ``configs/inference.json`` on files, folders or DICOM series.

This module only defines the parser; :func:`medtranslate.cli.bundle_runner.translate` runs it. The options become
config overrides (``input_path``, ``output_dir``, ``direction``, ``checkpoint``,
``output_formats``, ``device``, ``amp``, plus any ``--set KEY=VALUE``), the config is run with MONAI's
``ConfigWorkflow``, and the exit status says whether every input was translated (0), some failed (1), or the run could
not start (2). The translation itself is :class:`medtranslate.inferers.TranslationWorkflow`, which the config defines
under the id ``translator``.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Any

from medtranslate.io.batch import FORMATS as BATCH_FORMATS

__all__ = ["register", "FORMATS", "RUNNER"]

#: the module that runs the command (imported by the dispatcher only when ``translate`` runs).
RUNNER = "medtranslate.cli.bundle_runner"

FORMATS = tuple(BATCH_FORMATS)  # the output formats of medtranslate.io.batch, which the workflow writes


def __getattr__(name: str) -> Any:
    """Old import paths of the runner's functions (``run_bundle_config``, ``parse_set_options``), resolved lazily."""
    if name in ("run_bundle_config", "parse_set_options"):
        return getattr(importlib.import_module(RUNNER), name)
    raise AttributeError(name)


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
    p.add_argument(
        "--input-rcm",
        type=Path,
        help="second mode of a two-mode input: the RCM slide matching an FCM --input (bundles/confocal2he, "
        "--direction stain); a folder --input pairs <name>_fcm / <name>_rcm files itself",
    )
    p.add_argument("--direction", help="bundle-specific direction, e.g. ct2mr or mr2ct")
    p.add_argument("--checkpoint", type=Path, help="trained weights (a checkpoint file or a checkpoint folder)")
    p.add_argument("--format", action="append", choices=FORMATS, help="output format; repeat for several")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ...")
    p.add_argument(
        "--amp",
        choices=("auto", "bf16", "fp16", "fp32", "none"),
        help="mixed precision of the network forward pass (default auto: bf16 where the hardware does it natively)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        default=None,
        help="skip inputs whose outputs all exist (rerun an interrupted batch, also under torchrun)",
    )
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="any other config override (JSON value)")
    p.add_argument("--config", default="inference.json", help="config file in <bundle>/configs (inference.json)")
    p.set_defaults(func=f"{RUNNER}:translate")
    return p
