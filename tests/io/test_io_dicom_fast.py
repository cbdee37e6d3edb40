"""The fast DICOM path of conversions: exact integer rescale, voxels as load_image, no torch, headers parsed once."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from io_helpers import write_series

from medtranslate.io import find_series, load_image, save_image
from medtranslate.io.dicom_read import _plain_pixels, _rescale, read_dicom_files
from medtranslate.io.dicom_series import Plane, keep_parsed_headers, take_dataset
from medtranslate.io.validate import ArrayImage


def _reference_rescale(stored: np.ndarray, planes: list[Plane]) -> np.ndarray:
    """Rescale in int64, then the smallest of int16/int32/int64 that holds the result."""
    wide = np.stack([stored[z].astype(np.int64) * int(p.slope) + int(p.intercept) for z, p in enumerate(planes)])
    for dt in (np.int16, np.int32, np.int64):
        if np.iinfo(dt).min <= wide.min() and wide.max() <= np.iinfo(dt).max:
            return wide.astype(dt)
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    "dtype, low, high, slope, intercept, expected",
    [
        (np.int16, -2000, 3000, 1, -1024, np.int16),  # usual CT: in place
        (np.uint16, 40000, 50000, 1, -40000, np.int16),  # an intercept outside int16 still gives exact int16
        (np.uint16, 0, 65535, 1, -1024, np.int32),
        (np.int16, -100, 100, -3, 5, np.int16),
        (np.uint8, 0, 255, 2, -300, np.int16),
        (np.int16, -32768, 32767, 1, -1024, np.int32),  # would overflow int16: widened
        (np.int32, 0, 1000, 1, -10, np.int16),
        (np.uint16, 0, 65535, 100000, 0, np.int64),
    ],
)
def test_integer_rescale_is_exact_in_the_smallest_type(dtype, low, high, slope, intercept, expected):
    rng = np.random.default_rng(0)
    stored = rng.integers(low, high, size=(4, 5, 6), endpoint=True).astype(dtype)
    stored[0, 0, :2] = low, high  # the extremes are present
    planes = [Plane(Path("x"), 0, 5, 6, slope=float(slope), intercept=float(intercept + z)) for z in range(4)]
    out = _rescale(stored.copy(), planes)
    ref = _reference_rescale(stored, planes)
    assert out.dtype == expected == ref.dtype
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("n", [1, 3], ids=["2d", "3d"])
def test_numpy_read_equals_load_image(tmp_path, n):
    write_series(tmp_path / "s", n, spacing=2.0)
    fast = read_dicom_files(sorted((tmp_path / "s").iterdir()), tmp_path / "s")
    img = load_image(tmp_path / "s")
    assert isinstance(fast, ArrayImage) and fast.shape == tuple(img.shape)
    np.testing.assert_array_equal(np.asarray(fast), img.numpy())
    np.testing.assert_allclose(fast.affine, img.affine.numpy())
    assert fast.meta["mt_dicom"] == img.meta["mt_dicom"]
    if n > 1:  # a view of the slice stack, no copy: Fortran order, NIfTI's own layout
        assert fast.array.flags.f_contiguous and not fast.array.flags.c_contiguous
    assert img.is_contiguous()  # load_image keeps handing out C-ordered tensors


@pytest.mark.parametrize("n", [1, 3], ids=["2d", "3d"])
def test_nifti_from_numpy_image_equals_nifti_from_metatensor(tmp_path, n):
    write_series(tmp_path / "s", n, spacing=2.0)
    fast = read_dicom_files(sorted((tmp_path / "s").iterdir()), tmp_path / "s")
    a = save_image(fast, tmp_path / "fast.nii.gz", reference=fast)
    b = save_image(load_image(tmp_path / "s"), tmp_path / "slow.nii.gz")
    assert gzip.decompress(a.read_bytes()) == gzip.decompress(b.read_bytes())  # header and voxels, byte for byte
    assert nib.load(a).get_data_dtype() == np.int16


def test_dicom_conversion_imports_neither_torch_nor_monai(tmp_path):
    write_series(tmp_path / "src" / "s", 3, spacing=2.0)
    code = (
        "import sys; from medtranslate.io.batch import convert_tree; "
        f"r = convert_tree({str(tmp_path / 'src')!r}, {str(tmp_path / 'out')!r}, 'nifti', progress=False); "
        "assert r.ok, r.failed; print(sorted(m for m in ('torch', 'monai') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    (written,) = (tmp_path / "out").rglob("*.nii.gz")
    np.testing.assert_array_equal(np.asarray(nib.load(written).dataobj), load_image(tmp_path / "src" / "s").numpy()[0])


def test_discovery_hands_each_parsed_header_to_the_loader_once(tmp_path):
    write_series(tmp_path / "s", 2, spacing=2.0)
    (ref,) = find_series(tmp_path / "s")
    assert take_dataset(ref.paths[0]) is None  # outside keep_parsed_headers() nothing is held
    with keep_parsed_headers():
        (ref,) = find_series(tmp_path / "s")
        ds = take_dataset(ref.paths[0])
        assert ds is not None and "PixelData" in ds
        assert take_dataset(ref.paths[0]) is None  # consumed
        assert take_dataset(ref.paths[1]) is not None
        find_series(tmp_path / "s")
    assert take_dataset(ref.paths[0]) is None  # forgotten when the block ends


def test_a_file_changed_after_discovery_is_read_again(tmp_path):
    write_series(tmp_path / "s", 3, spacing=2.0)
    with keep_parsed_headers():
        (ref,) = find_series(tmp_path / "s")
        changed = ref.paths[1]
        ds = pydicom.dcmread(changed)
        ds.RescaleIntercept = -1000  # a header change (the stale parsed header says -1024)
        ds.save_as(changed)
        os.utime(changed, ns=(time.time_ns(), time.time_ns() + 10**9))
        img = ref.load()
        assert take_dataset(ref.paths[0]) is None  # the series' other headers were consumed by the load
    np.testing.assert_array_equal(img.numpy(), load_image(tmp_path / "s").numpy())
    raw = pydicom.dcmread(changed).pixel_array.astype(np.int32) - 1000
    assert any(np.array_equal(img.numpy()[0, :, :, z], raw.T) for z in range(3))


def test_plain_pixel_path_equals_pydicom_on_its_test_files():
    # pydicom's own test files, found on disk (get_testdata_files would try to download the external ones)
    names = sorted((Path(pydicom.__file__).parent / "data" / "test_files").glob("*.dcm"))
    taken, refused = [], 0
    for name in names:
        if name.stat().st_size > 4_000_000:
            continue
        try:
            ds = pydicom.dcmread(name, force=True, defer_size=1024)  # pixels read only by the route that takes them
        except Exception:  # noqa: BLE001 - a few test files are deliberately broken
            continue
        fast = _plain_pixels(ds)
        if fast is None:
            refused += 1
            continue
        ref = pydicom.dcmread(name, force=True).pixel_array
        assert fast.dtype == ref.dtype and fast.shape == ref.shape, name
        np.testing.assert_array_equal(fast, ref, err_msg=name)
        taken.append(fast.dtype.itemsize)
    assert len(taken) >= 5 and refused >= 20  # both routes are exercised (compressed, colour, 12-bit ...)
    assert {2, 4} <= set(taken)


@pytest.mark.parametrize("bits, signed", [(8, 0), (16, 0), (32, 1)])
def test_plain_pixel_path_equals_pydicom_per_bit_depth(bits, signed):
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    values = np.random.default_rng(bits).integers(0, 2 ** min(bits - 1, 20), size=(ds.Rows, ds.Columns))
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit, ds.PixelRepresentation = bits - 1, signed
    ds.PixelData = values.astype(f"<{'i' if signed else 'u'}{bits // 8}").tobytes()
    fast, ref = _plain_pixels(ds), ds.pixel_array
    assert fast is not None and fast.dtype == ref.dtype
    np.testing.assert_array_equal(fast, ref)
    ds.BitsStored = bits - 4  # unused high bits: pydicom's decoder corrects them, so the plain route declines
    assert _plain_pixels(ds) is None
