"""Procedural confocal skin slides, H&E patches and the despeckling data set (seed 001)."""

from __future__ import annotations

import numpy as np
import pytest

from medtranslate.data import datalist_split
from medtranslate.data.samples.skin import (
    he_patch,
    histology_gray,
    skin_confocal_pair,
    skin_region,
    write_he_slide,
    write_histology_dataset,
    write_skin_slide_pair,
)
from medtranslate.io.slide import SlideReader


def test_confocal_pair_is_deterministic_and_plausible():
    fcm, noisy, clean = skin_confocal_pair((128, 160), seed=2)
    again = skin_confocal_pair((128, 160), seed=2)
    assert all(np.array_equal(a, b) for a, b in zip((fcm, noisy, clean), again))
    assert not np.array_equal(clean, skin_confocal_pair((128, 160), seed=3)[2])
    for a in (fcm, noisy, clean):
        assert a.shape == (128, 160) and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1
    assert fcm.max() > 0.7 and clean[0, 0] < 0.1 and clean[64, 80] > 0.1  # nuclei bright, background dark
    tissue = clean > 0.1
    ratio = noisy[tissue] / clean[tissue]
    assert 0.8 < ratio.mean() < 1.2 and ratio.std() > 0.5  # single-look multiplicative speckle


def test_regions_join_without_seams():
    whole = skin_region(0, 0, 64, 96, (64, 96), seed=1)
    part = skin_region(20, 40, 30, 50, (64, 96), seed=1)
    for k in whole:
        assert np.allclose(whole[k][20:50, 40:90], part[k], atol=1e-5)


def test_he_patch_and_gray_histology():
    he = he_patch((64, 64), seed=0)
    assert he.shape == (64, 64, 3) and 0 <= he.min() and he.max() <= 1
    assert (he[..., 1] < he[..., 0]).mean() > 0.5  # pink/purple: green absorbed most
    g = histology_gray((64, 64), seed=0)
    assert g.shape == (64, 64) and g.mean() > 0.2  # inverted: tissue bright


def test_written_slides_and_histology_dataset(tmp_path):
    fcm, rcm = write_skin_slide_pair(tmp_path, (300, 280), seed=0, tile=64)
    with SlideReader(fcm) as f, SlideReader(rcm) as r:
        assert f.shape == r.shape == (300, 280) and f.pixel_size_um == pytest.approx(0.75) and len(f.levels) >= 2
    he = write_he_slide(tmp_path, (200, 200), tile=64)
    with SlideReader(he) as h:
        assert h.samples == 3 and h.pixel_size_um == pytest.approx(0.47)
    dl = write_histology_dataset(tmp_path / "ds", n=10, shape=(64, 64))
    assert (
        len(datalist_split(dl, "training", "domain_a")) == 8 and len(datalist_split(dl, "validation", "domain_a")) == 2
    )
