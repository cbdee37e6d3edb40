"""``medtranslate register``: register each image's unregistered counterpart to it and list the pairs (oct2confocal).

This module only defines the parser; :func:`medtranslate.cli.bundle_runner.register_pairs` runs the bundle's
``configs/register.json``, whose ``registration`` is :func:`medtranslate.workflows.register_counterparts`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["register", "RUNNER"]

#: the module that runs the command (imported by the dispatcher only when ``register`` runs).
RUNNER = "medtranslate.cli.bundle_runner"


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``register`` sub-command.

    Args:
        subparsers: the dispatcher's sub-parsers.

    Returns:
        The new parser.
    """
    p = subparsers.add_parser(
        "register",
        help="register each image's counterpart (an OCT eye's flat-mount) to it, for paired training",
        description="For every training image of --datalist that names a 'counterpart' (the same subject in the other "
        "domain, not registered: an OCT eye's confocal flat-mount), find the similarity transform (mirror included) "
        "that lays the counterpart's en-face view on the image's, and write into --output the counterpart resampled "
        "onto the image's grid, an overlay PNG of each pair, registration.json, and datalist.json: the input datalist "
        "plus the registered 'pairs' (train with the bundle's train_paired.json). Inputs are never written.",
    )
    p.add_argument("--bundle", required=True, type=Path, help="bundle folder (e.g. bundles/oct2confocal)")
    p.add_argument("--datalist", required=True, type=Path, help="the datalist whose images name their counterpart")
    p.add_argument("--output", required=True, type=Path, help="output folder")
    p.add_argument(
        "--depth-range", nargs=2, type=int, metavar=("START", "STOP"), help="the OCT depths projected (stop excluded)"
    )
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="any other config override (JSON value)")
    p.add_argument("--config", default="register.json", help="config file in <bundle>/configs (register.json)")
    p.set_defaults(func=f"{RUNNER}:register_pairs")
    return p
