"""``medtranslate demo --help`` describes the demo as it runs now (its steps), with no time figures to go stale."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from medtranslate.cli.demo import STEPS, step_function
from medtranslate.cli.main import main


def _help(capsys, *args: str) -> str:
    with pytest.raises(SystemExit) as done:
        main([*args, "--help"])
    assert done.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def test_demo_help_lists_every_step_in_order(capsys):
    text = _help(capsys, "demo")
    positions = [text.index(f"{i}. {step.name}: {' '.join(step.title.split())}") for i, step in enumerate(STEPS, 1)]
    assert positions == sorted(positions) and len(positions) == len(STEPS) >= 8
    assert any("train" in step.name for step in STEPS) and "tiny" in text  # says the models are toy-sized
    assert "demo_report.json" in text and "--quick" in text


def test_demo_help_states_no_durations(capsys):
    text = _help(capsys, "demo")
    duration = re.compile(r"\b(\d+(\.\d+)?\s*(s|sec|min|h)\b|seconds|minutes|hours)", re.IGNORECASE)
    assert not duration.search(text), duration.search(text)


def test_demo_parser_and_step_list_import_no_torch():
    """The steps' modules (torch, MONAI) are imported only when a step runs: ``medtranslate --help`` stays light."""
    code = (
        "import sys; from medtranslate.cli.main import build_parser; from medtranslate.cli.demo import STEPS; "
        "build_parser(); assert all(isinstance(s.run, str) for s in STEPS); "
        "print(sorted(m for m in ('torch', 'monai') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_step_resolves_to_a_function():
    assert all(callable(step_function(step)) for step in STEPS)
