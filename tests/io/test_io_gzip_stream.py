"""ParallelGzipWriter: one valid gzip member whatever the threads and write sizes; .nii.gz outputs unchanged inside."""

from __future__ import annotations

import gzip
import io
import zlib

import nibabel as nib
import numpy as np
import pytest

from medtranslate.io.gzip_stream import ParallelGzipWriter, io_threads
from medtranslate.io.nifti import save_nifti


def _payload(n: int) -> bytes:
    rng = np.random.default_rng(n)
    smooth = np.cumsum(rng.integers(-3, 4, size=n // 2), dtype=np.int16)  # compressible, not trivial
    return smooth.tobytes() + bytes(n - smooth.nbytes)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("writes", [[0], [10], [40_000, 1, 70_000, 33_000], [250_000], [65_536] * 4 + [7]])
def test_stream_is_one_valid_gzip_member(threads, writes):
    data = _payload(sum(writes))
    raw = io.BytesIO()
    with ParallelGzipWriter(raw, level=1, threads=threads, block_size=65_536) as stream:
        pos = 0
        for n in writes:
            assert stream.write(bytearray(data[pos : pos + n])) == n  # mutable input: copied, then reused safely
            pos += n
        assert stream.tell() == len(data)
    blob = raw.getvalue()
    assert gzip.decompress(blob) == data
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)  # single member: nothing follows the first trailer
    assert d.decompress(blob) == data and d.eof and d.unused_data == b""


def test_seek_forward_fills_zeros_and_backward_refuses():
    raw = io.BytesIO()
    with ParallelGzipWriter(raw, threads=1) as stream:
        stream.write(b"abc")
        assert stream.seek(3) == 3  # where it is: nothing to do
        assert stream.seek(2, io.SEEK_CUR) == 5
        with pytest.raises(OSError):
            stream.seek(1)
        stream.write(b"z")
    assert gzip.decompress(raw.getvalue()) == b"abc\x00\x00z"


def test_error_inside_the_block_stops_threads_without_trailer():
    raw = io.BytesIO()
    with pytest.raises(RuntimeError), ParallelGzipWriter(raw, threads=2, block_size=32_768) as stream:
        stream.write(bytes(200_000))
        raise RuntimeError("writer failed")
    assert stream.closed
    with pytest.raises(EOFError):
        gzip.decompress(raw.getvalue())


def test_io_threads_follows_the_environment(monkeypatch):
    monkeypatch.setenv("MEDTRANSLATE_IO_THREADS", "3")
    assert io_threads() == 3
    monkeypatch.delenv("MEDTRANSLATE_IO_THREADS")
    assert 1 <= io_threads() <= 4


@pytest.mark.parametrize("shape", [(1, 70, 50), (1, 70, 50, 40), (3, 20, 30, 5)], ids=["2d", "3d", "3d-rgb"])
def test_nii_gz_holds_what_nibabel_would_write(tmp_path, shape, monkeypatch):
    monkeypatch.setenv("MEDTRANSLATE_IO_THREADS", "2")
    array = np.arange(np.prod(shape), dtype=np.int16).reshape(shape) % 1000
    affine = np.diag([0.5, 0.7, 2.0, 1.0])
    ours = save_nifti(array, affine, tmp_path / "ours.nii.gz", "test")
    plain = save_nifti(array, affine, tmp_path / "plain.nii", "test")
    assert gzip.decompress(ours.read_bytes()) == plain.read_bytes()
    np.testing.assert_array_equal(np.asarray(nib.load(ours).dataobj), np.asarray(nib.load(plain).dataobj))


def test_same_input_same_bytes():
    blobs = []
    for threads in (1, 2):
        raw = io.BytesIO()
        with ParallelGzipWriter(raw, threads=threads, block_size=65_536) as stream:
            stream.write(_payload(300_000))
        blobs.append(raw.getvalue())
    assert blobs[0] == blobs[1]  # no timestamp in the header, blocks independent of the thread count
