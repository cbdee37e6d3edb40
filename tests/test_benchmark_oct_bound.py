"""benchmarks/oct_supervised_bound.py: its targets are confocal renderings registered to each training eye."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch

from medtranslate.data import datalist_split
from medtranslate.data.samples import write_sample_dataset
from medtranslate.io import load_image
from medtranslate.metrics.structure import stack_vessel_dice

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"
_SPEC = importlib.util.spec_from_file_location("oct_supervised_bound", BENCHMARKS / "oct_supervised_bound.py")
bound = importlib.util.module_from_spec(_SPEC)
sys.path.insert(0, str(BENCHMARKS))  # the script imports benchmarks/learning.py as its neighbour
try:
    _SPEC.loader.exec_module(bound)
finally:
    sys.path.remove(str(BENCHMARKS))


def test_targets_are_registered_to_their_eyes(tmp_path):
    datalist = write_sample_dataset(tmp_path, "oct_confocal", n=3, seed=0, shape=(24, 48, 48))
    pairs = bound.registered_pairs(datalist, [4, 20])
    items = datalist_split(datalist, "training", "domain_a")
    assert len(pairs) == len(items) >= 1
    for (slab, target), item in zip(pairs, items):
        assert slab.shape == (1, 16, 48, 48) and target.shape == (3, 9, 48, 48)
        assert -1.0 <= float(target.min()) and float(target.max()) <= 1.0
        vessels = load_image(item["ground_truth"])[0] > 0
        assert stack_vessel_dice((target + 1) / 2, vessels, depth_axis=0, channel=0) > 0.7
        assert torch.isfinite(slab).all()
