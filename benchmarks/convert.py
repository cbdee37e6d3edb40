"""Benchmark ``medtranslate convert --to nifti`` against dcm2niix on one multi-slice DICOM series.

Builds (in a temporary folder) a CT series of ``--slices`` slices of ``--size`` x ``--size`` pixels from pydicom's real
CT_small slice (upsampled, a little different per slice, new positions and UIDs), then runs each tool ``--repeat`` times
in a fresh process (the tools take turns) and prints the median wall time, the peak memory (max RSS of the tool's
processes) and the ratio.
Both write gzipped NIfTI. ``--profile`` also prints where ``convert_tree`` spends its time (cProfile, in-process).

    .venv/bin/python benchmarks/convert.py [--slices 200] [--size 512] [--repeat 3] [--jobs 1] [--profile]
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import io
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

# run a command, then print its wall time and the peak RSS (kB on Linux) of it and its descendants
_MEASURE = """
import resource, subprocess, sys, time
t0 = time.perf_counter()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
dt = time.perf_counter() - t0
if rc.returncode:
    sys.stderr.buffer.write(rc.stderr)
    sys.exit(rc.returncode)
print(dt, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


# in a fresh process: import time of convert_tree (and of what its first run imports: NumPy, pydicom, nibabel; torch and
# MONAI only if a reader needs them), then convert_tree timed with the imports already paid
_IN_PROCESS = """
import resource, shutil, sys, time
t0 = time.perf_counter()
from medtranslate.io.batch import convert_tree
import nibabel, numpy, pydicom
print("import", time.perf_counter() - t0)
src, dst, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
for k in range(repeat):
    shutil.rmtree(dst, ignore_errors=True)
    t0 = time.perf_counter()
    result = convert_tree(src, dst, "nifti", progress=False)
    assert result.ok, result.failed
    print("run", time.perf_counter() - t0)
print("rss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
print("heavy", ",".join(m for m in ("torch", "monai") if m in sys.modules) or "none")
"""


def in_process(src: Path, dst: Path, repeat: int) -> tuple[float, list[float], float, str]:
    """(import seconds, convert_tree seconds per run, peak MiB, heavy modules imported) in one fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", _IN_PROCESS, str(src), str(dst), str(repeat)], capture_output=True, text=True
    )
    if out.returncode:
        raise SystemExit(f"in-process run failed:\n{out.stderr}")
    lines = [line.split() for line in out.stdout.splitlines() if line.strip()]
    runs = [float(v) for k, v in lines if k == "run"]
    imported = next(float(v) for k, v in lines if k == "import")
    rss = next(int(v) for k, v in lines if k == "rss") / 1024
    heavy = next(v for k, v in lines if k == "heavy")
    return imported, runs, rss, heavy


def build_series(folder: Path, slices: int, size: int) -> None:
    """Write a ``slices``-slice, ``size``x``size`` CT series made from pydicom's CT_small.

    Args:
        folder: destination folder (created).
        slices: number of slices.
        size: rows and columns (a multiple of 128 keeps the upsampling exact).
    """
    import numpy as np
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.uid import generate_uid

    base = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    factor = max(1, size // base.Rows)
    pixels = np.kron(base.pixel_array, np.ones((factor, factor), base.pixel_array.dtype))[:size, :size]
    spacing = [float(v) / factor for v in base.PixelSpacing]
    x0, y0, z0 = (float(v) for v in base.ImagePositionPatient)
    series_uid, frame_uid = generate_uid(), generate_uid()
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(slices):
        ds = copy.deepcopy(base)
        ds.Rows, ds.Columns, ds.PixelSpacing = pixels.shape[0], pixels.shape[1], spacing
        ds.SeriesInstanceUID, ds.FrameOfReferenceUID = series_uid, frame_uid
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = k + 1
        ds.SliceThickness = 1.25
        ds.ImagePositionPatient = [x0, y0, z0 + 1.25 * k]
        ds.SliceLocation = z0 + 1.25 * k
        ds.PixelData = (pixels + (k % 50)).astype(pixels.dtype).tobytes()
        ds.save_as(folder / f"IM{k:05d}.dcm", enforce_file_format=True)


def measure(cmd: list[str], clean: Path) -> tuple[float, float]:
    """Run ``cmd`` once in a fresh process after emptying ``clean``; return (seconds, peak MiB)."""
    shutil.rmtree(clean, ignore_errors=True)
    clean.mkdir(parents=True)
    out = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{out.stderr}")
    seconds, rss_kb = out.stdout.split()
    return float(seconds), int(rss_kb) / 1024


def profile(src: Path, dst: Path, jobs: int) -> str:
    """cProfile of one in-process ``convert_tree`` run; the 25 most expensive calls by cumulative time."""
    from medtranslate.io.batch import convert_tree

    shutil.rmtree(dst, ignore_errors=True)
    prof = cProfile.Profile()
    prof.enable()
    convert_tree(src, dst, "nifti", jobs=jobs, progress=False)
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(25)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    """Build the series, time both tools and print the figures.

    Args:
        argv: command-line arguments (see the module docstring).

    Returns:
        0.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slices", type=int, default=200)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1, help="-j of medtranslate convert")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of convert_tree")
    args = parser.parse_args(argv)

    bindir = Path(sys.executable).parent
    dcm2niix = shutil.which("dcm2niix", path=str(bindir)) or shutil.which("dcm2niix")
    with tempfile.TemporaryDirectory(prefix="mt-bench-convert-") as tmp:
        tmp = Path(tmp)
        src = tmp / "series"
        build_series(src, args.slices, args.size)
        mib = sum(f.stat().st_size for f in src.iterdir()) / 2**20
        print(f"input: {args.slices} slices of {args.size}x{args.size} int16 ({mib:.0f} MiB), {os.cpu_count()} CPUs")
        tools = {
            "medtranslate": [
                sys.executable,
                "-m",
                "medtranslate",
                "-q",
                "convert",
                str(src),
                str(tmp / "mt"),
                "--to",
                "nifti",
                "-j",
                str(args.jobs),
            ],  # fmt: skip
        }
        if dcm2niix:
            tools["dcm2niix"] = [dcm2niix, "-z", "y", "-b", "n", "-f", "%s", "-o", str(tmp / "d2n"), str(src)]
        else:
            print("dcm2niix not found: only medtranslate is timed")
        # the tools take turns, so that both see the same load on a shared machine
        all_runs: dict[str, list[tuple[float, float]]] = {name: [] for name in tools}
        for _ in range(args.repeat):
            for name, cmd in tools.items():
                all_runs[name].append(measure(cmd, tmp / ("mt" if name == "medtranslate" else "d2n")))
        results: dict[str, tuple[float, float]] = {}
        for name, runs in all_runs.items():
            seconds = statistics.median(r[0] for r in runs)
            peak = max(r[1] for r in runs)
            results[name] = (seconds, peak)
            spread = ", ".join(f"{r[0]:.2f}" for r in runs)
            print(f"{name:>13}: {seconds:6.2f} s median ({spread}), peak RSS {peak:7.0f} MiB")
        imported, runs, rss, heavy = in_process(src, tmp / "warm", args.repeat)
        warm = statistics.median(runs)
        spread = ", ".join(f"{r:.2f}" for r in runs)
        print(f"{'in-process':>13}: {warm:6.2f} s median ({spread}), peak RSS {rss:7.0f} MiB; convert_tree alone")
        print(f"{'':>13}  after {imported:.2f} s of imports (paid once per process / worker); torch/MONAI: {heavy}")
        if "dcm2niix" in results:
            (t_mt, m_mt), (t_d, m_d) = results["medtranslate"], results["dcm2niix"]
            verdict = "within" if t_mt <= 2 * t_d else "OVER"
            print(f"{'ratio':>13}: time {t_mt / t_d:.2f}x ({verdict} the 2x goal), memory {m_mt / m_d:.2f}x")
            paired = [a[0] / b[0] for a, b in zip(all_runs["medtranslate"], all_runs["dcm2niix"], strict=True)]
            listing = ", ".join(f"{r:.2f}" for r in paired)
            print(f"{'':>13}  run by run: {listing} (median {statistics.median(paired):.2f}x)")
            print(f"{'':>13}  in-process (imports paid) {warm / t_d:.2f}x dcm2niix's time")
        if args.profile:
            print(profile(src, tmp / "prof", args.jobs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
