"""A batch's report: one item's failure goes into its report row and the log, and the batch goes on; the JSON report."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from medtranslate.errors import MedTranslateError
from medtranslate.utils.atomic import atomic_path

__all__ = ["report_item_failure", "write_batch_report"]


@contextmanager
def report_item_failure(row: dict[str, Any], name: str | os.PathLike, logger: logging.Logger) -> Iterator[None]:
    """Run the body for one batch item; an exception becomes the item's one-line ``row["error"]``, logged as an error.

    A :class:`~medtranslate.errors.MedTranslateError` is reported as its own message (it names the file already); any
    other exception as ``"<name>: <type>: <message on one line>"``, so one broken input never stops the batch. Nothing
    is re-raised; the row's ``"ok"`` is left as the body set it.

    Args:
        row: the item's report row (gains ``"error"`` on failure).
        name: what names the item in the message of an unexpected error (its input path).
        logger: the caller's logger.
    """
    try:
        yield
    except MedTranslateError as e:
        row["error"] = str(e)
        logger.error(str(e))
    except Exception as e:  # noqa: BLE001 - one broken input must not stop the batch
        row["error"] = f"{name}: {type(e).__name__}: {' '.join(str(e).split())}"
        logger.error(row["error"])


def write_batch_report(path: Path, fields: Mapping[str, Any], items: Sequence[Mapping[str, Any]]) -> Path:
    """Write a batch's JSON report (atomically): ``fields``, then ``ok``, ``n_items``, ``n_failed`` and the rows.

    Args:
        path: the report file.
        fields: what the run was (version, direction, input, output folder ...), first in the report.
        items: one report row per item, each with ``"ok"``.

    Returns:
        ``path``.
    """
    report = {
        **fields,
        "ok": all(item["ok"] for item in items),
        "n_items": len(items),
        "n_failed": sum(not item["ok"] for item in items),
        "items": list(items),
    }
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return path
