"""A gzip writer that deflates blocks on several threads (the pigz scheme), for large ``.nii.gz`` outputs.

Python's ``gzip`` module compresses on one core. Here the stream is cut into blocks that worker threads deflate
(zlib releases the GIL), each block primed with the last 32 KiB of the one before (so the ratio stays that of one
stream) and ended with a sync flush, the last one with a final block: the concatenation is ONE valid deflate stream,
so the file is an ordinary single-member gzip file that any reader (zlib, nibabel, ITK, FSL) accepts. MONAI has no
compressed writer of its own (it calls nibabel, which uses the ``gzip`` module).
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO

__all__ = ["ParallelGzipWriter", "io_threads"]

_WINDOW = 32 * 1024  # deflate's history window: the dictionary each block starts from


def io_threads() -> int:
    """Threads a writer may use: ``MEDTRANSLATE_IO_THREADS`` when set, else the usable CPU cores, at most 4.

    Batch workers (``convert -j N``) set the variable to 1, so N processes do not each start several threads.
    """
    env = os.environ.get("MEDTRANSLATE_IO_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


def _deflate(chunks: list[memoryview], primer: bytes, level: int, last: bool) -> bytes:
    comp = zlib.compressobj(level, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY, *([primer] if primer else []))
    out = [comp.compress(chunk) for chunk in chunks]
    out.append(comp.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH))
    return b"".join(out)


def _tail(chunks: list[memoryview], n: int) -> bytes:
    """The last ``n`` bytes of a block held as chunks."""
    out: list[bytes] = []
    for chunk in reversed(chunks):
        out.append(bytes(chunk[-(n - sum(map(len, out))) :]))
        if sum(map(len, out)) >= n:
            break
    return b"".join(reversed(out))


class ParallelGzipWriter(io.IOBase):
    """Write-only binary stream that gzips what it is given into ``raw``, deflating blocks on ``threads`` threads.

    Use it as a context manager (or call :meth:`close`), which writes the last block and the gzip trailer; ``raw``
    itself is left open. ``tell()`` counts uncompressed bytes, as ``gzip.GzipFile`` does.

    Args:
        raw: the binary file to write the gzip stream to.
        level: zlib compression level (1 = fastest; nibabel writes ``.nii.gz`` at 1 as well).
        threads: deflating threads (``None``: :func:`io_threads`); 1 deflates in the caller's thread.
        block_size: uncompressed bytes per block.
    """

    def __init__(self, raw: BinaryIO, level: int = 1, threads: int | None = None, block_size: int = 1 << 20) -> None:
        self._raw = raw
        self._level = level
        self._threads = threads or io_threads()
        self._block_size = max(block_size, _WINDOW)
        self._chunks: list[memoryview] = []  # the block being filled (views of immutable bytes: no copies)
        self._fill = 0
        self._primer = b""
        self._pending: deque[Future] = deque()
        self._pool = ThreadPoolExecutor(self._threads) if self._threads > 1 else None
        self._crc = 0
        self._size = 0
        # gzip header: magic, deflate, no flags, mtime 0 (same input, same bytes, as nibabel), extra flags 0, OS unknown
        raw.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff")

    def writable(self) -> bool:
        """Always ``True``."""
        return True

    def seekable(self) -> bool:
        """Always ``False``: the stream only goes forward (see :meth:`seek`)."""
        return False

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move forward only, as ``gzip.GzipFile`` does when writing: the gap is filled with zero bytes.

        Args:
            offset: the position (``SEEK_SET``) or the distance from here (``SEEK_CUR``).
            whence: ``io.SEEK_SET`` or ``io.SEEK_CUR``.

        Returns:
            The new position.

        Raises:
            OSError: for a backward move or ``SEEK_END``.
        """
        target = offset if whence == io.SEEK_SET else self._size + offset if whence == io.SEEK_CUR else -1
        if target < self._size:
            raise io.UnsupportedOperation("a gzip stream being written can only seek forward")
        if target > self._size:
            self.write(bytes(target - self._size))
        return self._size

    def tell(self) -> int:
        """The number of uncompressed bytes written so far."""
        return self._size

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Add bytes to the stream.

        Args:
            data: any bytes-like object.

        Returns:
            The number of bytes taken.
        """
        if self.closed:
            raise ValueError("write to a closed ParallelGzipWriter")
        view = memoryview(data).cast("B")
        if not isinstance(data, bytes):  # the caller may reuse a mutable buffer: keep a copy
            view = memoryview(bytes(view))
        taken = len(view)
        self._crc = zlib.crc32(view, self._crc)
        self._size += taken
        while len(view):
            if self._fill >= self._block_size:  # a full block goes once more data follows: the last one is final
                self._submit(last=False)
            part = view[: self._block_size - self._fill]
            self._chunks.append(part)
            self._fill += len(part)
            view = view[len(part) :]
        return taken

    def flush(self) -> None:
        """Nothing to do: blocks are written as soon as they are deflated (the stream ends on :meth:`close`)."""

    def _submit(self, last: bool) -> None:
        chunks, primer = self._chunks, self._primer
        self._chunks, self._fill = [], 0
        self._primer = _tail(chunks, _WINDOW) if not last else b""
        if self._pool is None:
            self._raw.write(_deflate(chunks, primer, self._level, last))
            return
        self._pending.append(self._pool.submit(_deflate, chunks, primer, self._level, last))
        while len(self._pending) > 2 * self._threads or (self._pending and self._pending[0].done()):
            self._raw.write(self._pending.popleft().result())

    def close(self) -> None:
        """Deflate what is left, write the trailer (CRC-32, size) and stop the threads; ``raw`` stays open."""
        if self.closed:
            return
        try:
            self._submit(last=True)
            while self._pending:
                self._raw.write(self._pending.popleft().result())
            self._raw.write(struct.pack("<II", self._crc, self._size & 0xFFFFFFFF))
        finally:
            self._stop()

    def _stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._pending.clear()
        super().close()

    def __exit__(self, exc_type, exc, tb) -> None:
        """Close normally; after an error only stop the threads (the caller discards the output)."""
        if exc_type is None:
            self.close()
        elif not self.closed:
            self._stop()
