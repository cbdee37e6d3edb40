"""``medtranslate rate``: blinded expert rating of translations (seed 000's MOS study), served as a local web page.

- ``rate create --study DIR (--spec study.json | --set NAME=FOLDER ...)``: check the study, render every image;
- ``rate invite --study DIR --rater NAME``: print a rater's personal link (a random token);
- ``rate serve --study DIR [--host 127.0.0.1 --port 8765 --admin-token T]``: serve the rating page;
- ``rate results --study DIR [--metrics MODEL=metrics.json ...]``: MOS per model, agreement, Markdown + JSON.

See docs/rating.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from medtranslate.errors import ConfigError

__all__ = ["register"]

_DEFAULT_URL = "http://127.0.0.1:8765"


def _pairs(values: list[str] | None, option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ConfigError(None, f"{option} {item!r}: expected NAME=PATH")
        if name.strip() in out:
            raise ConfigError(None, f"{option}: {name.strip()!r} is given twice")
        out[name.strip()] = value.strip()
    return out


def _create(args: argparse.Namespace) -> int:
    from medtranslate.rating.study import create_study, load_study_spec, spec_from_folders

    sets = _pairs(args.set, "--set")
    if bool(args.spec) == bool(sets):
        raise ConfigError(None, "give either --spec STUDY.json or one --set NAME=FOLDER per set")
    if args.spec:
        spec, source = load_study_spec(args.spec), args.spec
    else:
        spec, source = spec_from_folders(sets, name=args.name), None
    if args.name:
        spec["name"] = args.name
    study = create_study(args.study, spec, source=source, seed=args.seed, echo=None if args.quiet else print)
    n_ref = sum(s.kind == "reference" for s in study.sets)
    print(
        f"study {study.spec['name']!r} created in {study.folder}: {n_ref} reference and {len(study.sets) - n_ref} "
        f"blind set(s), {len(study.models)} models, order seed {study.seed}"
    )
    print(f"next: medtranslate rate invite --study {study.folder} --rater NAME")
    return 0


def _invite(args: argparse.Namespace) -> int:
    from medtranslate.rating.study import open_study

    if args.valid_days is not None and args.valid_days <= 0:
        raise ConfigError(None, f"--valid-days must be more than 0, not {args.valid_days}")
    study = open_study(args.study)
    token = study.store.add_rater(args.rater, valid_days=args.valid_days, replace_token=args.new_link)
    print(f"{args.url.rstrip('/')}/r/{token}/")
    print(
        f"(link of rater {args.rater.strip()!r}: send it to them only; it is shown once, the study keeps only a hash."
        f" Open it while `medtranslate rate serve --study {study.folder}` runs.)",
        file=sys.stderr,
    )
    return 0


def _serve(args: argparse.Namespace) -> int:
    from medtranslate.rating.server import RatingServer
    from medtranslate.rating.study import open_study

    study = open_study(args.study)
    server = RatingServer(study, host=args.host, port=args.port, admin_token=args.admin_token)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        logging.getLogger(__name__).warning(
            "listening on %s: other machines can reach the page (plain HTTP, no encryption)", args.host
        )
    n_raters = len(study.store.raters())
    print(f"serving study {study.spec.get('name')!r} ({len(study.sets)} sets, {n_raters} rater(s)) on {server.url}/")
    print(f"rater links: medtranslate rate invite --study {study.folder} --rater NAME --url {server.url}")
    if args.admin_token:
        print(f"results (unblinded): {server.url}/admin/<admin token>/results.md")
    print("press Ctrl-C to stop", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped")
    finally:
        server.shutdown()
    return 0


def _results(args: argparse.Namespace) -> int:
    from medtranslate.rating.results import compute_results, results_markdown, write_results
    from medtranslate.rating.study import open_study

    study = open_study(args.study)
    results = compute_results(study, _pairs(args.metrics, "--metrics"))
    paths = write_results(results, args.output or study.folder / "results")
    if not args.quiet:
        print(results_markdown(results))
    print("rating results: " + ", ".join(str(p) for p in paths.values()))
    return 0


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
    c.set_defaults(func=_create)

    i = sub.add_parser("invite", help="add a rater and print their personal link")
    i.add_argument("--study", required=True, type=Path, help="the study folder")
    i.add_argument("--rater", required=True, help="the rater's name (unique in the study)")
    i.add_argument("--url", default=_DEFAULT_URL, help=f"base URL the server is reached at ({_DEFAULT_URL})")
    i.add_argument("--valid-days", type=float, help="days the link works (default: no expiry)")
    i.add_argument("--new-link", action="store_true", help="give an existing rater a new link (the old one stops)")
    i.set_defaults(func=_invite)

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
    s.set_defaults(func=_serve)

    r = sub.add_parser("results", help="MOS per model, rater agreement, Markdown + JSON report")
    r.add_argument("--study", required=True, type=Path, help="the study folder")
    r.add_argument("--output", type=Path, help="report folder (default: STUDY/results)")
    r.add_argument(
        "--metrics", action="append", metavar="MODEL=metrics.json", help="an evaluate report to show beside the MOS"
    )
    r.set_defaults(func=_results)
    return p
