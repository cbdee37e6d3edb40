"""Datalists (``data_specs/``), unpaired datasets and deterministic sample-data generators.

Kept light: the sample generators live in :mod:`medtranslate.data.samples` (import it explicitly).
"""

from __future__ import annotations

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
