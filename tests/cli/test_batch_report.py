"""``workflows.batch_report``: translate's and stain's shared "try one item, report its failure, go on", and report."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from medtranslate.errors import InputError
from medtranslate.workflows.batch_report import report_item_failure, write_batch_report

LOGGER = logging.getLogger("medtranslate.test_batch_report")


def _raise(error: Exception) -> None:
    raise error


def test_failures_become_one_logged_line_and_the_loop_goes_on(caplog):
    rows = [{"ok": False, "error": None} for _ in range(4)]
    work = [
        lambda: None,
        lambda: _raise(InputError(Path("a.png"), "is not RGB")),
        lambda: {}["missing"],
        lambda: _raise(ValueError("bad\n  value")),
    ]
    with caplog.at_level(logging.ERROR, logger=LOGGER.name):
        for row, name, job in zip(rows, ["ok.png", "a.png", "k.png", Path("v.png")], work):
            with report_item_failure(row, name, LOGGER):
                job()
                row["ok"] = True
    assert [r["ok"] for r in rows] == [True, False, False, False]
    assert rows[0]["error"] is None
    assert rows[1]["error"] == str(InputError(Path("a.png"), "is not RGB"))  # its own message, which names the file
    assert rows[2]["error"] == "k.png: KeyError: 'missing'"
    assert rows[3]["error"] == "v.png: ValueError: bad value"  # on one line
    assert [r.getMessage() for r in caplog.records] == [r["error"] for r in rows[1:]]
    assert {r.name for r in caplog.records} == {LOGGER.name}  # the caller's logger


def test_the_batch_report_counts_the_rows_after_the_run_fields(tmp_path):
    rows = [{"ok": True, "error": None}, {"ok": False, "error": "b.png: is not RGB", "seconds": 0.5}]
    path = write_batch_report(tmp_path / "report.json", {"direction": "upscale", "input": Path("in")}, rows)
    report = json.loads(path.read_text())
    assert list(report) == ["direction", "input", "ok", "n_items", "n_failed", "items"]
    assert (report["input"], report["ok"], report["n_items"], report["n_failed"]) == ("in", False, 2, 1)
    assert report["items"] == rows and path.read_text().endswith("}\n")
    assert write_batch_report(path, {}, rows[:1]) == path and json.loads(path.read_text())["ok"] is True
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # written atomically: no temporary left
