"""Datalists (``data_specs/``), unpaired and paired datasets and deterministic sample-data generators.

Kept light: the sample generators live in :mod:`medtranslate.data.samples` (import it explicitly).
"""

from __future__ import annotations

import importlib
from typing import Any

from medtranslate.data.datalist import (
    DOMAINS,
    SPLITS,
    datalist_split,
    find_images,
    load_datalist,
    make_datalist,
    split_indices,
    validate_datalist,
    write_datalist,
)

__all__ = [
    "DOMAINS",
    "SPLITS",
    "datalist_split",
    "find_images",
    "load_datalist",
    "make_datalist",
    "split_indices",
    "validate_datalist",
    "write_datalist",
]


#: names exported lazily: the datasets pull in torch and MONAI, the rest of this package is light
_LAZY = {"UnpairedDataset": "medtranslate.data.unpaired", "PairedDataset": "medtranslate.data.paired"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
