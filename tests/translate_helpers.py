"""Shared helper of the tests that run ``medtranslate translate`` in-process (tests/cli and tests/bundles)."""

from __future__ import annotations

import os

from medtranslate.cli.main import main


def run_translate(
    bundle: str | os.PathLike,
    inp: str | os.PathLike,
    out: str | os.PathLike,
    checkpoint: str | os.PathLike,
    *extra: str,
) -> int:
    """Run ``medtranslate translate --bundle B --input I --output O --checkpoint C [extra ...]``.

    Args:
        bundle: the bundle folder.
        inp: the input file or folder.
        out: the output folder.
        checkpoint: the trained weights.
        extra: further command-line arguments.

    Returns:
        The command's exit status.
    """
    args = ["--bundle", str(bundle), "--input", str(inp), "--output", str(out), "--checkpoint", str(checkpoint)]
    return main(["translate", *args, *extra])
