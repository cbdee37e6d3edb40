"""Convert every DICOM file shipped with pydicom and pydicom-data; compare the voxels with pydicom's own decoding.

Each ``*.dcm`` file of pydicom's ``data/test_files`` and of the pydicom-data package (local files only: nothing is
downloaded) is converted alone by ``medtranslate convert FILE DST --to nifti`` in a fresh process, as a user would run
it. The reference is pydicom's decoding of the same file, as docs/convert.md documents the conversion:

- ``ds.pixel_array`` (pydicom converts YCbCr to RGB there); a file without Transfer Syntax UID and with native pixel
  data gets the encoding pydicom parsed it with;
- PALETTE COLOR: ``pydicom.pixels.apply_color_lut``;
- grayscale: the Modality LUT Sequence through ``pydicom.pixels.apply_modality_lut``, else RescaleSlope/Intercept
  (top level, or per frame from the functional groups), else RT Dose's DoseGridScaling (dose in Gy); none: unchanged.

Every file lands in one class:

- ``exact``: converted, and the output voxels equal the reference (float32 outputs: equal to the reference cast to
  float32); frames may come in another order (medtranslate sorts them along the slice normal);
- ``refused``: exit status 1 (2 when the single file is refused before the batch starts), no output, and exactly
  one error line that names the file, no traceback;
- ``silently wrong``: exit status 0 but the voxels or the shape differ from the reference, or pydicom itself cannot
  decode the file that medtranslate "converted";
- ``traceback``: a traceback on stderr, or a failure without exactly one error line naming the file, or another exit
  status.

    .venv/bin/python benchmarks/dicom_corpus.py [-j 2] [--list] [--match NAME] [--report out.csv]
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
from pydicom.pixels import apply_color_lut, apply_modality_lut

CLASSES = ("exact", "refused", "silently wrong", "traceback")
_PIXEL_TAGS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


@dataclass
class Outcome:
    """What happened to one file."""

    file: str
    source: str
    verdict: str
    detail: str
    seconds: float


def corpus_files() -> list[tuple[str, Path]]:
    """(source, path) of every DICOM file of pydicom's test data and of pydicom-data, found on disk only."""
    files = [("pydicom", p) for p in sorted((Path(pydicom.__file__).parent / "data" / "test_files").rglob("*.dcm"))]
    try:
        import data_store  # the pydicom-data package
    except ImportError:
        print("pydicom-data is not installed: only pydicom's own test files are tried", file=sys.stderr)
    else:
        files += [("pydicom-data", p) for p in sorted((Path(data_store.__file__).parent / "data").rglob("*.dcm"))]
    return files


def _group_value(ds, frame: int, sequence: str, attribute: str):
    for name in ("PerFrameFunctionalGroupsSequence", "SharedFunctionalGroupsSequence"):
        groups = ds.get(name)
        if not groups:
            continue
        item = groups[min(frame, len(groups) - 1)] if name.startswith("PerFrame") else groups[0]
        seq = item.get(sequence)
        if seq and attribute in seq[0]:
            return seq[0].get(attribute)
    return None


def reference(path: Path) -> tuple[np.ndarray | None, str]:
    """pydicom's decoded values as (frames, rows, cols[, 3]), or ``None`` and why not."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's notes on damaged files: the trial judges the output
        return _reference(path)


def _reference(path: Path) -> tuple[np.ndarray | None, str]:
    try:
        ds = pydicom.dcmread(path, force=True)
    except Exception as e:  # noqa: BLE001
        return None, f"pydicom cannot read it ({type(e).__name__})"
    if not any(t in ds for t in _PIXEL_TAGS):
        return None, "no pixel data"
    if not ds.file_meta.get("TransferSyntaxUID") and "PixelData" in ds and not ds["PixelData"].is_undefined_length:
        implicit, little = ds.original_encoding  # no Transfer Syntax UID: native pixels, the encoding pydicom parsed
        ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2" if implicit else "1.2.840.10008.1.2.1"
        ds.file_meta.TransferSyntaxUID = ds.file_meta.TransferSyntaxUID if little else "1.2.840.10008.1.2.2"
    try:
        arr = ds.pixel_array
    except Exception as e:  # noqa: BLE001
        return None, f"pydicom cannot decode it ({' '.join(str(e).split())[:80]})"
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    photometric = str(ds.get("PhotometricInterpretation", ""))
    if photometric == "PALETTE COLOR":
        arr = apply_color_lut(arr, ds)
    elif int(ds.get("SamplesPerPixel", 1) or 1) == 1:
        arr = arr[None] if frames == 1 else arr
        pvt = "PixelValueTransformationSequence"
        if ds.get("ModalityLUTSequence"):
            arr = apply_modality_lut(arr, ds)
        elif _group_value(ds, 0, pvt, "RescaleSlope") is not None:
            slopes = [float(_group_value(ds, f, pvt, "RescaleSlope")) for f in range(frames)]
            intercepts = [float(_group_value(ds, f, pvt, "RescaleIntercept") or 0) for f in range(frames)]
            arr = np.stack([arr[f].astype(np.float64) * slopes[f] + intercepts[f] for f in range(frames)])
        elif "RescaleSlope" in ds and "RescaleIntercept" in ds:
            arr = apply_modality_lut(arr, ds)
        elif "DoseGridScaling" in ds:
            arr = arr.astype(np.float64) * float(ds.DoseGridScaling)
        return arr, ""
    if frames == 1:
        arr = arr[None]
    return arr, ""


def _as_slices(out: np.ndarray, colour: bool) -> np.ndarray:
    """A NIfTI array written by medtranslate, back to (slices, rows, cols[, 3])."""
    if colour:  # (X, Y, Z, 1, 3)
        return out[:, :, :, 0, :].transpose(2, 1, 0, 3)
    return out.T[None] if out.ndim == 2 else out.transpose(2, 1, 0)


def compare(out: np.ndarray, ref: np.ndarray) -> str:
    """An empty string when equal (frames in any order), else what differs."""
    if out.shape != ref.shape:
        return f"shape {out.shape}, pydicom {ref.shape}"
    if np.issubdtype(out.dtype, np.floating) and out.dtype.itemsize == 4:
        ref = ref.astype(np.float32)
    if np.array_equal(out, ref):
        return ""
    remaining = list(range(ref.shape[0]))
    for z in range(out.shape[0]):
        match = next((k for k in remaining if np.array_equal(out[z], ref[k])), None)
        if match is None:
            diff = np.abs(out.astype(np.float64) - ref.astype(np.float64)).max()
            return f"values differ (max |difference| {diff:.6g})"
        remaining.remove(match)
    return ""


def _failure_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith(("ERROR", "medtranslate: error"))]


def trial(source: str, path: Path, work: Path) -> Outcome:
    """Convert one file in a fresh process and classify the result."""
    dst = work / path.stem
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "medtranslate.cli.main", "-q", "convert", str(path), str(dst), "--to", "nifti"]
    run = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    seconds = time.perf_counter() - t0
    outputs = sorted(dst.rglob("*.nii.gz")) if dst.exists() else []
    failures = _failure_lines(run.stderr)
    name = path.name

    def outcome(verdict: str, detail: str) -> Outcome:
        return Outcome(name, source, verdict, " ".join(detail.split()), seconds)

    if "Traceback" in run.stderr:
        return outcome("traceback", run.stderr.strip().splitlines()[-1])
    if run.returncode in (1, 2):  # 2: a single-file source refused before the batch starts
        if outputs:
            return outcome("traceback", "failed but left an output")
        if len(failures) != 1 or str(path) not in failures[0]:
            return outcome("traceback", f"{len(failures)} error lines: {' | '.join(failures)[:200]}")
        return outcome("refused", failures[0].split(f"{path}:", 1)[-1].strip())
    if run.returncode != 0 or len(outputs) != 1:
        tail = run.stderr.strip()[-200:]
        return outcome("traceback", f"exit status {run.returncode}, {len(outputs)} outputs: {tail}")
    ref, why = reference(path)
    if ref is None:
        return outcome("silently wrong", f"converted, but {why}")
    out = np.asanyarray(nib.load(outputs[0]).dataobj)
    colour = ref.ndim == 4
    if colour != (out.ndim == 5):
        return outcome("silently wrong", f"output shape {out.shape}, pydicom {ref.shape}")
    diff = compare(_as_slices(out, colour), ref)
    return outcome("silently wrong", diff) if diff else outcome("exact", f"{out.dtype} {tuple(out.shape)}")


def main(argv: list[str] | None = None) -> int:
    """Run the trial and print the table; exit status 1 when a file is silently wrong or shows a traceback."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-j", "--jobs", type=int, default=2, help="conversions at a time (default 2)")
    parser.add_argument("--match", default="", help="only files whose name contains this text")
    parser.add_argument("--list", action="store_true", help="print every file's outcome")
    parser.add_argument("--report", help="write every file's outcome to this CSV file")
    args = parser.parse_args(argv)

    files = [(s, p) for s, p in corpus_files() if args.match in p.name]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mt_dicom_corpus_") as tmp:
        work = Path(tmp)
        for k in range(len(files)):  # one destination per file, even for files of the same name
            (work / f"{k:03d}").mkdir()
        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            outcomes = list(pool.map(lambda kf: trial(kf[1][0], kf[1][1], work / f"{kf[0]:03d}"), enumerate(files)))
    elapsed = time.perf_counter() - t0

    if args.list:
        for o in outcomes:
            print(f"{o.verdict:15s} {o.source:12s} {o.file:50s} {o.detail}")
        print()
    if args.report:
        with open(args.report, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(asdict(outcomes[0])))
            writer.writeheader()
            writer.writerows(asdict(o) for o in outcomes)

    print(f"{len(files)} DICOM files (pydicom {pydicom.__version__} test files + pydicom-data), {elapsed:.0f} s\n")
    print("| source | " + " | ".join(CLASSES) + " | total |")
    print("|---|" + "---:|" * (len(CLASSES) + 1))
    for source in ("pydicom", "pydicom-data", "all"):
        chosen = [o for o in outcomes if source in ("all", o.source)]
        counts = [sum(o.verdict == c for o in chosen) for c in CLASSES]
        print(f"| {source} | " + " | ".join(map(str, counts)) + f" | {len(chosen)} |")
    bad = [o for o in outcomes if o.verdict in ("silently wrong", "traceback")]
    for o in bad:
        print(f"\n{o.verdict}: {o.source} {o.file}: {o.detail}", end="")
    print()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
