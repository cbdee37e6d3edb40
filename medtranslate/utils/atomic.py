"""Write-then-rename, so that a killed run never leaves a half-written file under the final name."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from medtranslate.errors import OutputError

__all__ = ["atomic_path", "remove_stale_temporaries", "TMP_MARK"]

TMP_MARK = ".mt-tmp"


def _default_mode(is_dir: bool) -> int:
    """The mode a plain ``open()`` / ``mkdir()`` would give under the current umask (mkstemp/mkdtemp use 0600/0700)."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if is_dir else 0o666) & ~umask


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it to ``final`` only if the block succeeds.

    The temporary name keeps the final suffix(es) (``x.nii.gz`` -> ``.x.<rand>.mt-tmp.nii.gz``) so that writers that
    choose a format from the suffix still work. On any exception the temporary file or folder is removed and the
    exception propagates; an existing ``final`` is then left untouched.

    Args:
        final: the path the result must end up at.
        is_dir: yield a temporary *folder* (for DICOM series and other multi-file outputs).

    Raises:
        OutputError: when the destination folder cannot be created or written.
    """
    final = Path(final)
    parent = final.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(parent, f"cannot create the output folder ({e.strerror or e})") from e
    suffix = "".join(final.suffixes[-2:]) if final.name.endswith(".gz") else final.suffix
    stem = final.name[: len(final.name) - len(suffix)] if suffix else final.name
    try:
        if is_dir:
            tmp = Path(tempfile.mkdtemp(prefix=f".{stem}.", suffix=TMP_MARK, dir=parent))
        else:
            fd, name = tempfile.mkstemp(prefix=f".{stem}.", suffix=f"{TMP_MARK}{suffix}", dir=parent)
            os.close(fd)
            tmp = Path(name)
    except OSError as e:
        raise OutputError(parent, f"cannot write in the output folder ({e.strerror or e})") from e
    try:
        yield tmp
        os.chmod(tmp, _default_mode(is_dir))
        if is_dir and final.exists():
            shutil.rmtree(final) if final.is_dir() else final.unlink()
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp) if tmp.is_dir() else tmp.unlink()
        raise


def remove_stale_temporaries(folder: str | os.PathLike, stem: str = "") -> list[Path]:
    """Delete the temporaries that :func:`atomic_path` left in ``folder`` when its process was killed (SIGKILL).

    A normal exit, an exception or SIGTERM remove the temporary; only a hard kill during the write leaves one behind
    (``.<stem>.<random>.mt-tmp<suffix>``). Call this when nothing else writes into ``folder`` (a run's start or
    resume), since a live writer's temporary looks the same.

    Args:
        folder: the folder to clean; a missing folder is fine.
        stem: only remove temporaries of final names starting with this (e.g. ``"checkpoint_"``); ``""``: all.

    Returns:
        The removed paths.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for p in folder.glob(f".{stem}*{TMP_MARK}*"):
        with contextlib.suppress(OSError):
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
            removed.append(p)
    return sorted(removed)
