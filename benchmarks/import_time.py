"""Import weight of the light entry points: ``medtranslate --help`` and ``medtranslate convert`` on a DICOM series.

Runs each command a few times in a fresh interpreter with ``python -X importtime`` and prints the median total import
time (the sum of the top-level imports' cumulative microseconds), the number of modules imported, and whether torch
or MONAI were imported. Pass ``--tree DIR`` to measure another checkout (e.g. the previous commit) in the same run as
a baseline. Usage::

    PYTHONPATH=$PWD .venv/bin/python benchmarks/import_time.py [--tree /tmp/old_checkout] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "io"))
from io_helpers import write_series  # noqa: E402

PROBE = "import sys; print('MODS', len(sys.modules), 'torch' in sys.modules, 'monai' in sys.modules, file=sys.stderr)"


def measure(tree: Path, args: list[str]) -> tuple[float, int, bool, bool]:
    """One run: total import time (ms), module count, torch imported, MONAI imported."""
    code = f"import sys, atexit; atexit.register(lambda: exec({PROBE!r})); sys.argv = ['medtranslate', *{args!r}]; "
    code += "from medtranslate.cli.main import main; rc = main(sys.argv[1:])"
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", code], env=env, capture_output=True, text=True)
    total, mods = 0, (0, False, False)
    for line in out.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            parts = [p.strip() for p in line[len("import time:") :].split("|")]
            if parts[1].isdigit() and not line.split("|")[-1].startswith("  "):  # top level: cumulative of children
                total += int(parts[1])
        if line.startswith("MODS"):
            _, n, torch, monai = line.split()
            mods = (int(n), torch == "True", monai == "True")
    return total / 1000, *mods


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, action="append", default=[], help="another checkout to measure first")
    parser.add_argument("--repeat", type=int, default=5)
    a = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        write_series(Path(tmp) / "src" / "s", 3, spacing=2.0)
        trees = [*a.tree, Path(__file__).parents[1]]
        commands = {"--help": ["--help"], "convert (DICOM)": ["convert", "--to", "nifti", str(Path(tmp) / "src")]}
        runs: dict[tuple[int, str], list[tuple[float, int, bool, bool]]] = {}
        for r in range(a.repeat):  # interleaved, so that a busy machine slows every tree alike
            for i, tree in enumerate(trees):
                for label, args in commands.items():
                    extra = [str(Path(tmp) / f"out{i}_{r}")] if label != "--help" else []
                    runs.setdefault((i, label), []).append(measure(tree, args + extra))
        for (i, label), results in runs.items():
            ms = statistics.median(x[0] for x in results)
            _, n, torch, monai = results[-1]
            print(f"{str(trees[i]):40s} {label:18s} {ms:8.1f} ms  {n:5d} modules  torch={torch} monai={monai}")


if __name__ == "__main__":
    main()
