"""Whole-volume translation on top of MONAI's inferers: overlapping windows, slice-wise 2D, cycle trust maps, seams.

See docs/inference.md. The file-to-file translation runtime built on these is :mod:`medtranslate.workflows`.
"""

from __future__ import annotations

from medtranslate.inferers.cycle import CycleResult, cycle_consistency
from medtranslate.inferers.depth import DepthAxisTranslator
from medtranslate.inferers.padding import crop_back, pad_to_roi, reflect_indices
from medtranslate.inferers.resize import ResizeNetwork
from medtranslate.inferers.seams import SeamScore, seam_score, window_borders, window_starts
from medtranslate.inferers.slices import SliceTranslator, translate_slices
from medtranslate.inferers.sliding import VolumeTranslator, translate_volume
from medtranslate.inferers.tiled import TiledStreamTranslator, window_starts_1d

__all__ = [
    "CycleResult",
    "cycle_consistency",
    "DepthAxisTranslator",
    "crop_back",
    "pad_to_roi",
    "reflect_indices",
    "ResizeNetwork",
    "SeamScore",
    "seam_score",
    "window_borders",
    "window_starts",
    "SliceTranslator",
    "translate_slices",
    "VolumeTranslator",
    "translate_volume",
    "TiledStreamTranslator",
    "window_starts_1d",
]
