from __future__ import annotations

import subprocess
import sys

import pytest

from medtranslate import __version__
from medtranslate.cli.main import main


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_module_entry_point_help():
    out = subprocess.run([sys.executable, "-m", "medtranslate", "--help"], capture_output=True, text=True, check=True)
    assert "convert" in out.stdout
