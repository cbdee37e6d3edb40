"""``medtranslate evaluate``: run a bundle's ``configs/evaluate.json`` (metrics report as JSON and Markdown).

The config defines the evaluation object under the id ``evaluator`` (for example
:class:`medtranslate.workflows.EvaluationWorkflow`); its ``run()`` writes the report with
:func:`medtranslate.metrics.write_report` and returns it. This module only defines the parser;
:func:`medtranslate.cli.bundle_runner.evaluate` runs it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``evaluate`` sub-command.

    Args:
        subparsers: the dispatcher's sub-parsers.

    Returns:
        The new parser.
    """
    p = subparsers.add_parser(
        "evaluate",
        help="compute a bundle's metrics on its test data",
        description="Run a bundle's configs/evaluate.json and write its metric report (JSON + Markdown table).",
    )
    p.add_argument("--bundle", required=True, type=Path, help="bundle folder (e.g. bundles/ct2mri)")
    p.add_argument("--output", type=Path, help="output folder (config key output_dir)")
    p.add_argument("--checkpoint", type=Path, help="trained weights (config key checkpoint)")
    p.add_argument("--datalist", type=Path, help="datalist JSON with a test split (config key datalist)")
    p.add_argument("--device", help="cpu, cuda ...")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="any other config override (JSON value)")
    p.add_argument("--config", default="evaluate.json", help="config file in <bundle>/configs (evaluate.json)")
    p.set_defaults(func="medtranslate.cli.bundle_runner:evaluate")
    return p
