"""Tissue patches of slides into a seeded datalist; bad slides are named and the others go on."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from medtranslate.data import datalist_split
from medtranslate.data.samples.skin import write_he_slide, write_skin_slide_pair
from medtranslate.data.slide_patches import confocal_patches, he_patches, write_patch_datalist
from medtranslate.errors import InputError


def _tif(path, data, um=0.75):
    tifffile.imwrite(path, data, resolution=(1e4 / um, 1e4 / um), resolutionunit="CENTIMETER")
    return path


def test_datalist_of_confocal_and_resampled_he_patches(tmp_path):
    fcm, rcm = write_skin_slide_pair(tmp_path / "s", (512, 512), seed=0, tile=64)
    he = write_he_slide(tmp_path / "s", (820, 820), seed=1, tile=64)
    calls = []
    dl, problems = write_patch_datalist(
        [(fcm, rcm)], [he], tmp_path / "p", patch=64, despeckle=lambda r: calls.append(r.shape) or r
    )
    assert problems == [] and calls and calls[0] == (64, 64)
    a = datalist_split(dl, "training", "domain_a") + datalist_split(dl, "validation", "domain_a")
    b = datalist_split(dl, "training", "domain_b") + datalist_split(dl, "validation", "domain_b")
    assert len(a) == len(calls) >= 10 and len(b) >= 10
    assert abs(len(datalist_split(dl, "training", "domain_a")) / len(a) - 0.8) < 0.1
    png = tifffile.imread  # noqa: F841 - PNGs are read with PIL below
    from PIL import Image

    assert np.asarray(Image.open(b[0]["image"])).shape == (64, 64, 3)  # 102 px at 0.47 um -> 64 px at 0.75 um
    assert np.asarray(Image.open(a[0]["image"])).shape == (64, 64, 3)


def test_bad_slides_are_named_and_an_empty_datalist_is_an_error(tmp_path):
    fcm, rcm = write_skin_slide_pair(tmp_path / "s", (256, 256), seed=0, tile=64)
    empty_f = _tif(tmp_path / "empty_fcm.tif", np.zeros((256, 256), np.uint16))
    empty_r = _tif(tmp_path / "empty_rcm.tif", np.zeros((256, 256), np.uint16))
    with pytest.raises(InputError, match="empty_fcm.tif.*no 64x64 patch"):
        confocal_patches(empty_f, empty_r, tmp_path / "o", patch=64)
    small = _tif(tmp_path / "small_rcm.tif", np.zeros((32, 32), np.uint16))
    with pytest.raises(InputError, match="small_rcm.tif"):
        confocal_patches(fcm, small, tmp_path / "o", patch=64)
    gray_he = _tif(tmp_path / "he.tif", np.zeros((256, 256), np.uint8), um=0.47)
    with pytest.raises(InputError, match="he.tif.*RGB"):
        he_patches(gray_he, tmp_path / "o", patch=64)
    with pytest.raises(InputError, match="no H&E tissue patch"):
        write_patch_datalist([(fcm, rcm), (empty_f, empty_r)], [gray_he], tmp_path / "p", patch=64)
