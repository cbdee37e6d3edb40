"""The actions of ``medtranslate rate`` (create, invite, serve, results); the parser is :mod:`medtranslate.cli.rate`.

The dispatcher imports this module (the rating package: images, metrics, torch) only when a ``rate`` action runs, so
the parser module stays light. See docs/rating.md.
"""

from __future__ import annotations

import argparse
import logging
import sys

from medtranslate.errors import ConfigError
from medtranslate.rating.results import compute_results, results_markdown, write_results
from medtranslate.rating.server import RatingServer
from medtranslate.rating.study import create_study, load_study_spec, open_study, spec_from_folders

__all__ = ["create", "invite", "serve", "results"]


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


def create(args: argparse.Namespace) -> int:
    """Create a study folder from ``--spec`` or the ``--set`` folders and render its images.

    Args:
        args: the parsed ``rate create`` command line.

    Returns:
        0 (errors raise :class:`medtranslate.errors.MedTranslateError`).
    """
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


def invite(args: argparse.Namespace) -> int:
    """Add a rater (or give one a new link) and print the personal link.

    Args:
        args: the parsed ``rate invite`` command line.

    Returns:
        0 (errors raise :class:`medtranslate.errors.MedTranslateError`).
    """
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


def serve(args: argparse.Namespace) -> int:
    """Serve the rating page until Ctrl-C.

    Args:
        args: the parsed ``rate serve`` command line.

    Returns:
        0 (errors raise :class:`medtranslate.errors.MedTranslateError`).
    """
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


def results(args: argparse.Namespace) -> int:
    """Compute and write the MOS per model and the rater agreement.

    Args:
        args: the parsed ``rate results`` command line.

    Returns:
        0 (errors raise :class:`medtranslate.errors.MedTranslateError`).
    """
    study = open_study(args.study)
    results = compute_results(study, _pairs(args.metrics, "--metrics"))
    paths = write_results(results, args.output or study.folder / "results")
    if not args.quiet:
        print(results_markdown(results))
    print("rating results: " + ", ".join(str(p) for p in paths.values()))
    return 0
