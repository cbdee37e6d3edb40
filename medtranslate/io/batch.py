"""Batch conversion of a file or a tree of medical images: one output per series, resumable, in parallel.

The planning (naming, collisions, resume) happens in the calling process; every item is then loaded with
:func:`medtranslate.io.load_image` (through :meth:`SeriesRef.load`) and written with :func:`medtranslate.io.save_image`,
which writes to a temporary name and renames, so the final name exists only once the output is complete. A bad item
never stops the batch: it becomes a ``failed`` line in the result (and in the report), with the file and the problem.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm  # tqdm.auto would pick this class too: the bar shows only when stderr is a terminal

from medtranslate.errors import ConfigError, InputError, MedTranslateError, OutputError, message_line
from medtranslate.io import SeriesRef, find_series, save_image
from medtranslate.io.dicom_read import read_dicom_files
from medtranslate.io.dicom_series import clear_dataset_cache, keep_parsed_headers, read_header
from medtranslate.io.discover import dicom_origin
from medtranslate.io.load import detect_format
from medtranslate.utils.atomic import TMP_MARK, atomic_path
from medtranslate.utils.distributed import Shard, current_shard

__all__ = ["FORMATS", "BatchItem", "BatchResult", "convert_tree", "output_path", "write_report"]

logger = logging.getLogger(__name__)

#: Output formats of ``convert`` and the suffix each one gets (``""``: DICOM writes a folder named after the key).
FORMATS: dict[str, str] = {
    "nifti": ".nii.gz",
    "dicom": "",
    "tiff": ".tif",
    "png": ".png",
    "nrrd": ".nrrd",
    "mha": ".mha",
}

#: Status values of a :class:`BatchItem`.
CONVERTED, SKIPPED, FAILED = "converted", "skipped", "failed"

_REPORT_FIELDS = ("input", "output", "status", "reason", "kind", "series_uid", "key", "seconds", "note")
# tempfile names: prefix + 8 characters of this alphabet + suffix (see medtranslate.utils.atomic.atomic_path)
_TMP_RAND = r"[a-z0-9_]{8}"


@dataclass
class BatchItem:
    """What happened to one series of a batch.

    Args:
        input: the input file, or for a DICOM series the folder that holds its files.
        output: the output path (a file, or a folder for DICOM).
        status: ``"converted"``, ``"skipped"`` (the output was already complete) or ``"failed"``.
        reason: why it failed or was skipped; empty when converted.
        kind: the input kind found by :func:`medtranslate.io.find_series` (``"unknown"`` when unreadable).
        series_uid: the DICOM SeriesInstanceUID, or ``None``.
        key: the deterministic output stem, relative to the destination.
        seconds: wall time spent converting the item.
        note: what the output values are when they are not the stored pixels or their plain rescale (RT Dose in Gy,
            Modality LUT applied, palette colour expanded to RGB); empty otherwise.
    """

    input: str
    output: str
    status: str
    reason: str = ""
    kind: str = ""
    series_uid: str | None = None
    key: str = ""
    seconds: float = 0.0
    note: str = ""


@dataclass
class BatchResult:
    """The outcome of :func:`convert_tree`.

    Args:
        items: one :class:`BatchItem` per series found, in the deterministic order of their keys.
        src: the source file or folder.
        dst: the destination folder.
        to: the output format.
    """

    items: list[BatchItem] = field(default_factory=list)
    src: str = ""
    dst: str = ""
    to: str = ""

    def _count(self, status: str) -> int:
        return sum(item.status == status for item in self.items)

    @property
    def n_converted(self) -> int:
        """Number of items written by this run."""
        return self._count(CONVERTED)

    @property
    def n_skipped(self) -> int:
        """Number of items whose output was already complete."""
        return self._count(SKIPPED)

    @property
    def n_failed(self) -> int:
        """Number of items that could not be converted."""
        return self._count(FAILED)

    @property
    def ok(self) -> bool:
        """``True`` when no item failed."""
        return self.n_failed == 0

    @property
    def failed(self) -> list[BatchItem]:
        """The failed items."""
        return [item for item in self.items if item.status == FAILED]


@dataclass(frozen=True)
class _Task:
    """One conversion to run in a worker (picklable: sent to spawned processes)."""

    ref: SeriesRef
    input: str
    output: Path
    to: str
    anonymize: bool


def output_path(dst: str | os.PathLike, key: str, to: str) -> Path:
    """The output path of the series ``key`` in the destination ``dst`` for the format ``to``.

    Args:
        dst: the destination folder.
        key: the series key from :class:`medtranslate.io.SeriesRef` (a relative, ``/``-separated stem).
        to: one of :data:`FORMATS`.

    Returns:
        ``dst/<key><suffix>``, or the folder ``dst/<key>`` for DICOM.

    Raises:
        ConfigError: when ``to`` is not a known format.
    """
    if to not in FORMATS:
        raise ConfigError(None, f"unknown output format {to!r}; choose one of {', '.join(FORMATS)}")
    return Path(dst).joinpath(*key.split("/")).with_name(key.rsplit("/", 1)[-1] + FORMATS[to])


def _input_label(ref: SeriesRef) -> str:
    """The file, or for a multi-file series the folder holding its files, that the report names as the input."""
    if len(ref.paths) == 1:
        return str(ref.paths[0])
    return os.path.commonpath([str(Path(p).parent) for p in ref.paths])


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


def _prepare_destination(dst: Path) -> None:
    """Create ``dst`` and prove it is writable, so that a bad destination fails once, clearly, before any work."""
    if dst.exists() and not dst.is_dir():
        raise OutputError(dst, "the destination exists and is not a folder")
    try:
        dst.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(dst, f"cannot create the destination folder ({e.strerror or e})") from e
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-test.", suffix=TMP_MARK, dir=dst)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise OutputError(dst, f"cannot write in the destination folder ({e.strerror or e})") from e


def _report_format(report: Path) -> str:
    suffix = report.suffix.lower()
    if suffix not in (".json", ".csv"):
        raise ConfigError(report, "the report must end in .json or .csv")
    return suffix[1:]


def _clean_leftovers(output: Path) -> None:
    """Remove temporary files or folders left beside ``output`` by a killed run (names from ``atomic_path``)."""
    parent, name = output.parent, output.name
    if not parent.is_dir():
        return
    suffix = "".join(output.suffixes[-2:]) if name.endswith(".gz") else output.suffix
    stem = name[: len(name) - len(suffix)] if suffix else name
    pattern = re.compile(re.escape(f".{stem}.") + _TMP_RAND + re.escape(TMP_MARK + suffix) + "$")
    for entry in parent.iterdir():
        if pattern.match(entry.name):
            logger.debug("removing leftover %s", entry)
            try:
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
            except OSError as e:
                logger.warning("%s: cannot remove a leftover temporary file (%s)", entry, e.strerror or e)


def _plan(
    refs: Sequence[SeriesRef], dst: Path, to: str, overwrite: bool, anonymize: bool, shard: Shard | None = None
) -> tuple[list[BatchItem | None], list[_Task | None]]:
    """Name every output, find collisions and complete outputs; return (finished items, tasks) aligned with ``refs``.

    Under a launch of several processes (``shard``) every rank plans all items (the same collisions everywhere) but
    cleans the leftovers of its own items only (another rank may be writing its temporary files).
    """
    outputs = [output_path(dst, ref.key, to) for ref in refs]
    inputs = {Path(os.path.abspath(p)) for ref in refs for p in ref.paths}
    by_name: dict[str, list[int]] = defaultdict(list)
    for i, out in enumerate(outputs):
        by_name[os.path.normcase(os.path.abspath(out)).casefold()].append(i)
    clash: dict[int, str] = {}
    for group in by_name.values():  # two inputs, one output name (also case-insensitively, for macOS and Windows)
        for i in group if len(group) > 1 else ():
            others = ", ".join(_input_label(refs[j]) for j in group if j != i)
            clash[i] = f"output name {outputs[i].name!r} is also the output of {others}; rename one of the inputs"
    if to == "dicom":  # a series folder must not sit inside another series folder (rewriting one deletes the other)
        folders = {os.path.abspath(out): i for i, out in enumerate(outputs)}
        for i, out in enumerate(outputs):
            for parent in Path(os.path.abspath(out)).parents:
                j = folders.get(str(parent))
                if j is not None and j != i:
                    clash[i] = f"output folder {out} lies inside {outputs[j]}, the output of {_input_label(refs[j])}"
                    clash[j] = f"output folder {outputs[j]} contains {out}, the output of {_input_label(refs[i])}"

    done: list[BatchItem | None] = []
    tasks: list[_Task | None] = []
    for i, (ref, out) in enumerate(zip(refs, outputs, strict=True)):
        label = _input_label(ref)
        common = dict(input=label, output=str(out), kind=ref.kind, series_uid=ref.series_uid, key=ref.key)
        absout = Path(os.path.abspath(out))
        reason = clash.get(i)
        if reason is None and any(p == absout or _is_within(p, absout) for p in inputs):
            reason = f"the output {out} would replace an input; choose another destination"
        if reason is not None:
            done.append(BatchItem(status=FAILED, reason=reason, **common))
            tasks.append(None)
            continue
        if shard is None or shard.owns(i):
            _clean_leftovers(out)
        if out.exists() and not overwrite:
            done.append(BatchItem(status=SKIPPED, reason="output already complete", **common))
            tasks.append(None)
            continue
        done.append(None)
        tasks.append(_Task(ref=ref, input=label, output=out, to=to, anonymize=anonymize))
    return done, tasks


def _reason(err: BaseException, input_label: str) -> str:
    """One line saying what went wrong; the file is named unless it is the input itself."""
    if isinstance(err, MedTranslateError):
        if err.path is None or os.path.abspath(err.path) == os.path.abspath(input_label):
            return " ".join(err.problem.split())
        return str(err)
    return f"{type(err).__name__}: {' '.join(str(err).split())}"


def _convert_one(task: _Task) -> BatchItem:
    """Load one series and write it; never raises (a failure becomes a ``failed`` item)."""
    t0 = time.perf_counter()
    common = dict(
        input=task.input, output=str(task.output), kind=task.ref.kind, series_uid=task.ref.series_uid, key=task.ref.key
    )
    try:
        # NumPy only: a DICOM conversion never imports torch or MONAI (nor does a damaged DICOM file's refusal)
        if task.ref.kind == "dicom" or (task.ref.kind == "unknown" and detect_format(task.ref.paths[0]) == "dicom"):
            img = read_dicom_files(task.ref.paths, dicom_origin(task.ref.paths))
        else:
            img = task.ref.load()
        save_image(img, task.output, fmt=task.to, reference=img, anonymize=task.anonymize, synthetic=False)
        note = str(img.meta.get("mt_note", "") or "")
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # noqa: BLE001 - any failure of one item is reported, the batch goes on
        logger.debug("%s failed", task.input, exc_info=True)
        return BatchItem(status=FAILED, reason=_reason(e, task.input), seconds=time.perf_counter() - t0, **common)
    if note:
        logger.info("%s: %s", task.input, note)
    return BatchItem(status=CONVERTED, seconds=time.perf_counter() - t0, note=note, **common)


def _init_worker() -> None:
    """Keep each worker on one thread: the parallelism is across items (torch reads this when a reader imports it)."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "MEDTRANSLATE_IO_THREADS"):
        os.environ[name] = "1"


def _run(tasks: list[tuple[int, _Task]], jobs: int, on_done) -> None:
    """Convert ``(index, task)`` pairs with ``jobs`` processes (here when 1), calling ``on_done(i, item)`` for each."""
    if jobs <= 1 or len(tasks) <= 1:
        for i, task in tasks:
            on_done(i, _convert_one(task))
        return
    pool = ProcessPoolExecutor(
        max_workers=min(jobs, len(tasks)), mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker
    )
    try:
        futures = {pool.submit(_convert_one, task): (i, task) for i, task in tasks}
        for future in as_completed(futures):
            i, task = futures[future]
            try:
                item = future.result()
            except BrokenProcessPool:
                item = BatchItem(
                    input=task.input,
                    output=str(task.output),
                    status=FAILED,
                    reason="a worker process died (out of memory?); rerun to resume, with fewer jobs (-j)",
                    kind=task.ref.kind,
                    series_uid=task.ref.series_uid,
                    key=task.ref.key,
                )
            on_done(i, item)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _report_text(result: BatchResult, fmt: str) -> str:
    rows = [{k: asdict(item)[k] for k in _REPORT_FIELDS} for item in result.items]
    for row in rows:
        row["seconds"] = round(row["seconds"], 3)
    if fmt == "json":
        summary = {
            "src": result.src,
            "dst": result.dst,
            "to": result.to,
            "n_converted": result.n_converted,
            "n_skipped": result.n_skipped,
            "n_failed": result.n_failed,
            "items": rows,
        }
        return json.dumps(summary, indent=2) + "\n"
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=_REPORT_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)
    return buf.getvalue()


def write_report(result: BatchResult, report: str | os.PathLike) -> Path:
    """Write the per-item report of a batch, JSON or CSV by the suffix, atomically.

    Args:
        result: the batch outcome.
        report: ``*.json`` (a summary object with ``items``) or ``*.csv`` (one row per item). Columns / keys: input,
            output, status (converted | skipped | failed), reason, kind, series_uid, key, seconds.

    Returns:
        The report path.

    Raises:
        ConfigError: when the suffix is neither .json nor .csv.
        OutputError: when the report cannot be written.
    """
    report = Path(report)
    text = _report_text(result, _report_format(report))
    try:
        with atomic_path(report) as tmp:
            tmp.write_text(text, encoding="utf-8")
    except OSError as e:
        raise OutputError(report, f"cannot write the report ({e.strerror or e})") from e
    return report


def _progress_bar(total: int, enabled: bool):
    return tqdm(
        total=total, unit="series", desc="convert", file=sys.stderr, disable=not (enabled and sys.stderr.isatty())
    )


def _select(refs: Iterable[SeriesRef], series_uid: str | None, src: Path) -> list[SeriesRef]:
    refs = list(refs)
    if series_uid is None:
        return refs
    chosen = [ref for ref in refs if ref.series_uid == series_uid]
    if not chosen:
        found = sorted({ref.series_uid for ref in refs if ref.series_uid})
        listing = "; found: " + ", ".join(found) if found else "; it holds no DICOM series"
        raise InputError(src, f"no DICOM series with SeriesInstanceUID {series_uid}{listing}")
    return chosen


def convert_tree(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    to: str,
    *,
    jobs: int = 1,
    anonymize: bool = False,
    overwrite: bool = False,
    report: str | os.PathLike | None = None,
    progress: bool = True,
    series_uid: str | None = None,
) -> BatchResult:
    """Convert every series under ``src`` into ``dst`` in the format ``to``; bad items are reported, not raised.

    Each series found by :func:`medtranslate.io.find_series` becomes ``dst/<key><suffix>`` (a folder ``dst/<key>``
    for DICOM). A rerun skips outputs that already exist (they exist only once complete) and removes temporary files
    that a killed run left beside them. Two inputs that would share an output, or an output that would replace an
    input, fail with a reason. Inputs are only read.

    Args:
        src: a file or a folder tree.
        dst: the destination folder (created when missing).
        to: the output format, one of :data:`FORMATS`.
        jobs: worker processes (spawned); 1 converts in this process, 0 uses one per CPU core.
        anonymize: drop patient and study identity from DICOM outputs.
        overwrite: rewrite outputs that already exist instead of skipping them.
        report: a ``.json`` or ``.csv`` path for the per-item report (see :func:`write_report`).
        progress: show a progress bar on stderr (only when stderr is a terminal).
        series_uid: convert only the DICOM series with this SeriesInstanceUID.

    Returns:
        The :class:`BatchResult`, with one item per series in key order.

    Raises:
        ConfigError: for an unknown format, a bad ``jobs`` value or a report path without .json/.csv.
        InputError: when ``src`` does not exist, holds no image, or has no series ``series_uid``.
        OutputError: when the destination (or the report) cannot be created or written.
    """
    if to not in FORMATS:
        raise ConfigError(None, f"unknown output format {to!r}; choose one of {', '.join(FORMATS)}")
    if jobs < 0:
        raise ConfigError(None, f"jobs must be 0 (one per CPU core) or more, not {jobs}")
    jobs = jobs or os.cpu_count() or 1
    src, dst = Path(src), Path(dst)
    if report is not None:
        _report_format(Path(report))
    if not src.exists():
        raise InputError(src, "no such file or folder")
    if os.path.abspath(src) == os.path.abspath(dst):
        raise ConfigError(dst, "the destination must differ from the source")
    _prepare_destination(dst)
    if report is not None and Path(report).parent.exists() and not os.access(Path(report).parent, os.W_OK):
        raise OutputError(report, "cannot write the report: its folder is not writable")

    absdst, abssrc = Path(os.path.abspath(dst)), Path(os.path.abspath(src))
    with keep_parsed_headers():  # discovery's parsed headers serve the loads in this process (not the workers')
        refs = find_series(src)
        if src.is_dir() and _is_within(absdst, abssrc):  # a destination inside the source: its outputs are no inputs
            refs = [ref for ref in refs if not all(_is_within(Path(os.path.abspath(p)), absdst) for p in ref.paths)]
        refs = _select(refs, series_uid, src)
        if not refs:
            header = read_header(src) if src.is_file() else None
            if header is not None and header.is_index:
                raise InputError(src, "is a DICOMDIR index file, not an image; convert the folder holding its files")
            raise InputError(src, "no image files found")
        refs.sort(key=lambda r: (r.key, [str(p) for p in r.paths]))

        shard = current_shard()
        items, tasks = _plan(refs, dst, to, overwrite, anonymize, shard)
        for item in items:  # failures found while planning (name collisions) are announced like the others
            if item is not None and item.status == FAILED and shard.is_main:
                logger.error("%s: %s", item.input, item.reason)
        todo = [(i, task) for i, task in enumerate(tasks) if task is not None and shard.owns(i)]
        mine = sum(1 for i in range(len(refs)) if shard.owns(i))
        bar = _progress_bar(mine, progress)
        bar.update(mine - len(todo))

        def on_done(i: int, item: BatchItem) -> None:
            items[i] = item
            if item.status == FAILED:
                if bar.disable:
                    logger.error("%s: %s", item.input, item.reason)
                else:  # above the bar, not through it
                    bar.write(message_line(f"{item.input}: {item.reason}"), file=sys.stderr)
            bar.update(1)

        if jobs > 1 and len(todo) > 1:  # the workers parse their own headers
            clear_dataset_cache()
        try:
            _run(todo, jobs, on_done)
        finally:
            bar.close()

    if shard.distributed:  # every rank gets every rank's items; rank 0 writes the one report
        for rank_items in shard.gather({i: items[i] for i, _ in todo}):
            for i, item in rank_items.items():
                items[i] = item
    result = BatchResult(items=[item for item in items if item is not None], src=str(src), dst=str(dst), to=to)
    if report is not None and shard.is_main:
        write_report(result, report)
    return result


#: public names of the destination checks that ``translate`` shares with ``convert``.
prepare_destination = _prepare_destination
is_within = _is_within
