"""Set-up: the README's GPU lines install a CUDA build of torch, differ from the default, and say where tools live."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _setup_lines() -> list[str]:
    start = README.index("## The two commands")
    section = README[start : README.index("## Command line")]
    return [line.strip() for line in section.splitlines() if line.strip().startswith("make setup")]


def _dry_run(tmp_path: Path, line: str) -> str:
    """What ``make setup`` would run for a README line, on a fresh environment (``make -n``, nothing is executed)."""
    args = shlex.split(line)[2:]
    cmd = ["make", "-n", "-C", str(ROOT), "setup", f"VENV={tmp_path / 'venv'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def _torch_install(dry: str) -> str:
    joined = dry.replace("\\\n", " ")
    return next(line for line in joined.splitlines() if "pip install" in line and "-e " not in line)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_gpu_setup_lines_install_a_cuda_build(tmp_path):
    lines = _setup_lines()
    assert len(lines) == 3, lines
    default = _torch_install(_dry_run(tmp_path, "make setup"))
    installs = [_torch_install(_dry_run(tmp_path, line)) for line in lines]
    assert all(" ".join(i.split()) != " ".join(default.split()) for i in installs), installs
    index_line, pypi_line, cpu_line = installs
    assert re.search(r"torch==2\.13\.0\+cu1\d\d .*--index-url https://download\.pytorch\.org/whl/cu1\d\d", index_line)
    assert "torch==2.13.0 " in pypi_line + " " and "--index-url https://pypi.org/simple" in pypi_line
    assert "--force-reinstall" in index_line and "--force-reinstall" in pypi_line  # replaces an installed +cpu
    assert "torch==2.13.0+cpu" in cpu_line and "whl/cpu" in cpu_line


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_setup_reruns_when_the_torch_choice_changes(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(shutil.which("python3") or "/usr/bin/python3")
    choice, stamp = venv / ".medtranslate-torch", venv / ".medtranslate-installed"
    choice.write_text("torch==2.13.0 \n")
    os.utime(choice, ns=(1_000_000_000, 1_000_000_000))
    stamp.touch()  # set-up done after the choice was recorded

    def record(*args: str) -> bool:
        """Run the rule that records the choice; return whether the stamp is now out of date."""
        subprocess.run(["make", "-s", "-C", str(ROOT), f"VENV={venv}", *args, str(choice)], check=True)
        return choice.stat().st_mtime_ns > stamp.stat().st_mtime_ns

    assert record() is False  # same choice: set-up is not redone
    assert record("TORCH_SPEC=torch==2.13.0+cu128", "TORCH_INDEX=https://download.pytorch.org/whl/cu128") is True
    assert choice.read_text() == "torch==2.13.0+cu128 https://download.pytorch.org/whl/cu128\n"


def test_readme_says_where_the_tools_are():
    assert ".venv/bin" in README and "source .venv/bin/activate" in README
