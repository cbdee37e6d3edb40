"""``medtranslate convert``: convert a file or a tree of medical images, one output per series.

A thin layer over :func:`medtranslate.io.batch.convert_tree` (a light module: DICOM to NIfTI imports no torch or MONAI).
Exit codes: 0 every item converted or skipped, 1 some items failed (see the report), 2 usage or destination error.
"""

from __future__ import annotations

import argparse
import logging

from medtranslate.io.batch import FORMATS as BATCH_FORMATS
from medtranslate.io.batch import convert_tree

__all__ = ["register", "run"]

FORMATS = tuple(BATCH_FORMATS)  # the output formats of medtranslate.io.batch (a light import: no torch or MONAI)

EPILOG = """\
outputs: DST/<key>.<ext> per series (DST/<key>/ folder of slices for dicom); <key> mirrors the input path,
  or dicom/<PatientID>_<SeriesNumber>_<uid hash> for a DICOM series.
a rerun skips outputs that are complete; --overwrite rewrites them.
exit status: 0 all converted or skipped, 1 some items failed (one line each on stderr and in --report),
  2 usage or destination error.
examples:
  medtranslate convert scans/ out/ --to nifti -j 4 --report out/report.csv
  medtranslate convert ct.nii.gz out/ --to dicom --anonymize
"""


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 (one per CPU core) or more")
    return value


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``convert`` sub-command.

    Args:
        subparsers: the dispatcher's sub-parsers.

    Returns:
        The ``convert`` parser (its ``func`` is :func:`run`).
    """
    parser = subparsers.add_parser(
        "convert",
        help="convert images and DICOM series between formats (batch, resumable)",
        description="Convert SRC (a file or a folder tree) into DST, one output per image file or DICOM series.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("src", metavar="SRC", help="an image file, a DICOM folder, or a tree of them")
    parser.add_argument("dst", metavar="DST", help="destination folder (created when missing)")
    parser.add_argument("--to", required=True, choices=FORMATS, help="output format")
    parser.add_argument(
        "-j", "--jobs", type=_jobs, default=1, metavar="N", help="worker processes (default 1; 0 = one per CPU core)"
    )
    parser.add_argument("--report", metavar="FILE", help="per-item report, .json or .csv")
    parser.add_argument("--anonymize", action="store_true", help="drop patient and study identity (DICOM outputs)")
    parser.add_argument("--overwrite", action="store_true", help="rewrite outputs that already exist")
    parser.add_argument("--series-uid", metavar="UID", help="convert only the DICOM series with this SeriesInstanceUID")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the conversion described by the parsed arguments.

    Args:
        args: the parsed command line (``src``, ``dst``, ``to``, ``jobs``, ``report``, ``anonymize``, ``overwrite``,
            ``series_uid`` and the global ``quiet``).

    Returns:
        0 when no item failed, 1 otherwise.

    Raises:
        MedTranslateError: for a usage, source or destination error (the dispatcher prints it, exit status 2).
    """
    result = convert_tree(
        args.src,
        args.dst,
        args.to,
        jobs=args.jobs,
        anonymize=args.anonymize,
        overwrite=args.overwrite,
        report=args.report,
        progress=not getattr(args, "quiet", False),
        series_uid=args.series_uid,
    )
    log = logging.getLogger("medtranslate.convert")
    log.info(
        "%d converted, %d skipped, %d failed -> %s%s",
        result.n_converted,
        result.n_skipped,
        result.n_failed,
        result.dst,
        f" (report: {args.report})" if args.report else "",
    )
    return 0 if result.ok else 1
