"""``medtranslate synthesize``: generate synthetic image / mask pairs with a generative bundle (fundus_synthesis).

This module only defines the parser; :func:`medtranslate.cli.bundle_runner.synthesize` runs the bundle's
``configs/synthesize.json``, whose ``synthesizer`` is a :class:`medtranslate.workflows.FundusSynthesisWorkflow`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["register", "RUNNER"]

#: the module that runs the command (imported by the dispatcher only when ``synthesize`` runs).
RUNNER = "medtranslate.cli.bundle_runner"


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``synthesize`` sub-command.

    Args:
        subparsers: the dispatcher's sub-parsers.

    Returns:
        The new parser.
    """
    p = subparsers.add_parser(
        "synthesize",
        help="generate synthetic images with their masks from a trained generative bundle",
        description="Write --num synthetic fundus images (2x the generator size: 1024x1024 in the paper's setting), "
        "their vessel masks at both sizes, and manifest.json, a datalist pairing each image with its mask. Every "
        "file is marked SYNTHETIC; the same --seed and checkpoints give identical files.",
    )
    p.add_argument("--bundle", required=True, type=Path, help="bundle folder (e.g. bundles/fundus_synthesis)")
    p.add_argument("--checkpoint", type=Path, help="training output folder holding vae/, pix2pix/ and edsr/")
    p.add_argument("--num", required=True, type=int, help="number of image / mask pairs (>= 1)")
    p.add_argument("--output", required=True, type=Path, help="output folder")
    p.add_argument("--seed", type=int, default=0, help="seed of the latent codes (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier synthesis in --output")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ...")
    p.add_argument("--amp", choices=("bf16", "fp16", "none"), help="mixed precision of the network passes")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="any other config override (JSON value)")
    p.add_argument("--config", default="synthesize.json", help="config file in <bundle>/configs (synthesize.json)")
    p.set_defaults(func=f"{RUNNER}:synthesize")
    return p
