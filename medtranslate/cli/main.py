"""Entry point of the ``medtranslate`` command.

Sub-commands live in their own modules under :mod:`medtranslate.cli`. Each module exposes
``register(subparsers) -> argparse.ArgumentParser`` which adds its parser and sets ``func``: a callable taking the
parsed ``argparse.Namespace`` and returning an exit code, or the ``"module:function"`` name of one in a heavier module
(torch, MONAI) that is imported only when that command runs. So the parser modules stay light and
``medtranslate --help`` answers at once. To add a command, append it to :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import warnings
from collections.abc import Callable, Sequence

from medtranslate import __version__
from medtranslate.errors import MedTranslateError, message_line

__all__ = ["main", "build_parser", "COMMANDS"]

#: (name, module) of every sub-command, in the order ``--help`` lists them.
COMMANDS: list[tuple[str, str]] = [
    ("convert", "medtranslate.cli.convert"),
    ("translate", "medtranslate.cli.translate"),
    ("evaluate", "medtranslate.cli.evaluate"),
    ("synthesize", "medtranslate.cli.synthesize"),
    ("register", "medtranslate.cli.register"),
    ("demo", "medtranslate.cli.demo"),
    ("rate", "medtranslate.cli.rate"),
]

EXIT_OK = 0
EXIT_FAILED_ITEMS = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every registered sub-command."""
    parser = argparse.ArgumentParser(
        prog="medtranslate",
        description="Medical image-to-image translation: convert, translate, evaluate.",
    )
    parser.add_argument("--version", action="version", version=f"medtranslate {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks instead of one-line errors")
    parser.add_argument("-q", "--quiet", action="store_true", help="only print warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for _, module in COMMANDS:
        importlib.import_module(module).register(sub)
    return parser


class CliFormatter(logging.Formatter):
    """Log lines of the command line: warnings and errors as ``medtranslate: error: ...`` (the form of every error
    line, see :func:`medtranslate.errors.message_line`), progress messages bare."""

    def format(self, record: logging.LogRecord) -> str:
        """Format one record.

        Args:
            record: the log record.

        Returns:
            The line.
        """
        message = super().format(record)
        if record.levelno >= logging.WARNING:
            return message_line(message, record.levelname.lower())
        return message


def configure_logging(quiet: bool = False) -> None:
    """Route log records to stderr in the command line's form; ``quiet`` drops everything below WARNING.

    ``quiet`` uses ``logging.disable``, so it also silences loggers that do not propagate to the root logger and
    set their own level, such as MONAI's ``StatsHandler`` (the per-iteration loss lines of bundle training). MONAI's
    two notices that the CUDA DICOM decoder nvImageCodec is missing are dropped (medtranslate reads DICOM itself).

    Args:
        quiet: only warnings and errors (undo with ``logging.disable(logging.NOTSET)``).
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(CliFormatter())
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, handlers=[handler])
    logging.disable(logging.INFO if quiet else logging.NOTSET)
    # MONAI's LoadImage builds every default reader, and its GPU DICOM reader reports twice that nvImageCodec (a CUDA
    # decoder) is missing, on every machine without it: noise about a reader medtranslate never asks for
    logging.getLogger("monai.data.nvimgcodec_pydicom_plugin").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="NvImgCodecPydicomReader: nvImageCodec decoder plugin")


def _resolve(func: Callable[[argparse.Namespace], int] | str) -> Callable[[argparse.Namespace], int]:
    """A command's function, importing its module when it is given as ``"module:function"``."""
    if isinstance(func, str):
        module, _, name = func.partition(":")
        return getattr(importlib.import_module(module), name)
    return func


def _fail(message: str) -> None:
    sys.stderr.write(message_line(message) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code (0 ok, 1 some items failed, 2 error, 130 interrupted).

    Args:
        argv: the arguments without the program name; ``None`` reads ``sys.argv``.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return EXIT_ERROR
    configure_logging(args.quiet)
    try:
        return int(_resolve(args.func)(args) or 0)
    except KeyboardInterrupt:
        _fail("interrupted")
        return EXIT_INTERRUPTED
    except MedTranslateError as e:
        if args.debug:
            raise
        _fail(str(e))
        return EXIT_ERROR
    except Exception as e:  # noqa: BLE001 - the last guard: no traceback reaches a user without --debug
        if args.debug:
            raise
        _fail(f"{type(e).__name__}: {e} (rerun with --debug for the traceback)")
        return EXIT_ERROR
    finally:
        logging.disable(logging.NOTSET)  # main() may run again in this process (tests, notebooks)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
