"""Lazy whole-slide reads and the streaming pyramidal OME-TIFF writer."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from medtranslate.errors import InputError, OutputError
from medtranslate.io.slide import SlideReader, check_mode_pair, downsample_mean, write_pyramid_ome_tiff


def _bands(a: np.ndarray, tile: int):
    for y in range(0, a.shape[0], tile):
        yield a[y : y + tile]


def test_pyramid_roundtrip_levels_metadata_and_regions(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (300, 520, 3), dtype=np.uint8)
    path = write_pyramid_ome_tiff(
        tmp_path / "x.ome.tif", _bands(rgb, 64), (300, 520), tile=64, pixel_size_um=0.75, min_level_size=64
    )
    with tifffile.TiffFile(path) as tif:
        assert tif.is_ome and "SYNTHETIC" in tif.ome_metadata and "medtranslate" in tif.pages[0].software
        levels = tif.series[0].levels
        assert [lvl.shape[:2] for lvl in levels] == [(300, 520), (150, 260), (75, 130), (38, 65), (19, 33)]
        assert np.array_equal(levels[0].asarray(), rgb)
        assert np.array_equal(levels[1].asarray(), downsample_mean(rgb, 2))
        assert tif.pages[0].is_tiled and tif.pages[0].tilelength == 64
    assert not list(tmp_path.glob(".*"))  # no temporary files left
    with SlideReader(path) as s:
        assert s.shape == (300, 520) and s.samples == 3 and s.pixel_size_um == pytest.approx(0.75)
        assert np.array_equal(s.read_region(37, 101, 90, 200), rgb[37:127, 101:301])
        edge = s.read_region(280, 500, 40, 40)
        assert np.array_equal(edge[:20, :20], rgb[280:, 500:]) and not edge[20:].any()
        assert np.array_equal(s.read_region(10, 10, 20, 30, level=1), levels_1(rgb)[10:30, 10:40])
        thumb, factor = s.thumbnail(100)
        assert max(thumb.shape[:2]) <= 100 and factor >= 4


def levels_1(rgb):
    return downsample_mean(rgb, 2)


def test_grayscale_strips_and_resolution_tags(tmp_path):
    gray = (np.arange(200 * 150, dtype=np.uint32).reshape(200, 150) % 65535).astype(np.uint16)
    tifffile.imwrite(
        tmp_path / "g.tif", gray, rowsperstrip=16, resolution=(1e4 / 0.5, 1e4 / 0.5), resolutionunit="CENTIMETER"
    )
    with SlideReader(tmp_path / "g.tif") as s:
        assert s.samples == 1 and s.dtype == np.uint16 and s.pixel_size_um == pytest.approx(0.5)
        assert np.array_equal(s.read_region(50, 20, 70, 100), gray[50:120, 20:120])


def test_mode_pair_checks_name_the_file(tmp_path):
    a = tmp_path / "a_fcm.tif"
    tifffile.imwrite(a, np.zeros((64, 64), np.uint16), resolution=(1e4 / 0.75, 1e4 / 0.75), resolutionunit="CENTIMETER")
    cases = {
        "b_rcm.tif": (np.zeros((64, 80), np.uint16), 0.75, "80x64 px but the FCM is 64x64"),
        "c_rcm.tif": (np.zeros((64, 64), np.uint16), 0.5, "0.5 um pixels"),
        "d_rcm.tif": (np.zeros((64, 64, 3), np.uint8), 0.75, "RGB"),
    }
    for name, (data, um, msg) in cases.items():
        tifffile.imwrite(tmp_path / name, data, resolution=(1e4 / um, 1e4 / um), resolutionunit="CENTIMETER")
        with SlideReader(a) as f, SlideReader(tmp_path / name) as r:
            with pytest.raises(InputError, match=msg) as e:
                check_mode_pair(f, r, 32)
            assert name in str(e.value)
    with SlideReader(a) as f, SlideReader(a) as r:
        with pytest.raises(InputError, match="smaller .* than one patch"):
            check_mode_pair(f, r, 128)
    (tmp_path / "junk.tif").write_bytes(b"not a tiff")
    with pytest.raises(InputError, match="junk.tif"):
        SlideReader(tmp_path / "junk.tif")


def test_writer_refuses_bands_that_do_not_fit(tmp_path):
    with pytest.raises(OutputError):
        write_pyramid_ome_tiff(tmp_path / "x.ome.tif", _bands(np.zeros((100, 64, 3), np.uint8), 32), (120, 64), tile=32)
    assert not (tmp_path / "x.ome.tif").exists()
