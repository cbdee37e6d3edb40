"""``medtranslate rate``: blinded expert rating of translations (seed 000's MOS study), served as a local web page.

- ``rate create --study DIR (--spec study.json | --set NAME=FOLDER ...)``: check the study, render every image;
- ``rate invite --study DIR --rater NAME``: print a rater's personal link (a random token);
- ``rate serve --study DIR [--host 127.0.0.1 --port 8765 --admin-token T]``: serve the rating page;
- ``rate results --study DIR [--metrics MODEL=metrics.json ...]``: MOS per model, agreement, Markdown + JSON.

The parser lives here; the actions (:mod:`medtranslate.cli.rate_actions`, which loads the rating package and torch)
are imported by the dispatcher only when one runs. See docs/rating.md.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

__all__ = ["register"]

_DEFAULT_URL = "http://127.0.0.1:8765"


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``rate`` sub-command and its own sub-commands.

    Args:
        subparsers: the dispatcher's sub-parsers.

    Returns:
        The ``rate`` parser.
    """
    p = subparsers.add_parser(
        "rate",
        help="blinded expert rating of translations (MOS study) in a local web page",
        description="Create a blinded rating study, invite raters, serve the rating page, and compute the Mean "
        "Opinion Score per model (seed 000, Table 2). See docs/rating.md.",
    )
    sub = p.add_subparsers(dest="rate_command", metavar="ACTION")
    p.set_defaults(func=lambda _args: (p.print_help(), 2)[1])

    c = sub.add_parser("create", help="create a study folder from a study file or one folder per set")
    c.add_argument("--study", required=True, type=Path, help="the new study folder")
    c.add_argument("--spec", type=Path, help="study JSON (data_specs/rating_study.schema.json)")
    c.add_argument(
        "--set",
        action="append",
        metavar="NAME=FOLDER",
        help="a set from a folder holding input.*, an optional reference.* and one file per model (<model>.*)",
    )
    c.add_argument("--name", help="study title shown to raters")
    c.add_argument("--seed", type=int, help="seed of the per-rater image order (default: the spec's, else random)")
    c.set_defaults(func="medtranslate.cli.rate_actions:create")

    i = sub.add_parser("invite", help="add a rater and print their personal link")
    i.add_argument("--study", required=True, type=Path, help="the study folder")
    i.add_argument("--rater", required=True, help="the rater's name (unique in the study)")
    i.add_argument("--url", default=_DEFAULT_URL, help=f"base URL the server is reached at ({_DEFAULT_URL})")
    i.add_argument("--valid-days", type=float, help="days the link works (default: no expiry)")
    i.add_argument("--new-link", action="store_true", help="give an existing rater a new link (the old one stops)")
    i.set_defaults(func="medtranslate.cli.rate_actions:invite")

    s = sub.add_parser("serve", help="serve the rating page (localhost by default)")
    s.add_argument("--study", required=True, type=Path, help="the study folder")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1: this machine only)")
    s.add_argument("--port", type=int, default=8765, help="TCP port (8765; 0 picks a free one)")
    s.add_argument(
        "--admin-token",
        default=os.environ.get("MEDTRANSLATE_RATE_ADMIN_TOKEN"),
        help="enables /admin/<token>/results.md and results.json (unblinded results); default: the environment "
        "variable MEDTRANSLATE_RATE_ADMIN_TOKEN, which keeps it out of the process list",
    )
    s.set_defaults(func="medtranslate.cli.rate_actions:serve")

    r = sub.add_parser("results", help="MOS per model, rater agreement, Markdown + JSON report")
    r.add_argument("--study", required=True, type=Path, help="the study folder")
    r.add_argument("--output", type=Path, help="report folder (default: STUDY/results)")
    r.add_argument(
        "--metrics", action="append", metavar="MODEL=metrics.json", help="an evaluate report to show beside the MOS"
    )
    r.set_defaults(func="medtranslate.cli.rate_actions:results")
    return p
