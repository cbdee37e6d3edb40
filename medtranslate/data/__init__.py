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


def __getattr__(name: str):  # lazy export: UnpairedDataset pulls in torch and MONAI, the rest of this package is light
    if name == "UnpairedDataset":
        from medtranslate.data.unpaired import UnpairedDataset  # torch + MONAI: only when asked for

        return UnpairedDataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
