"""Whole-volume translation on top of MONAI's inferers: overlapping windows, slice-wise 2D, cycle trust maps, seams.

See docs/inference.md.
"""

from __future__ import annotations

from medtranslate.inferers.cycle import CycleResult, cycle_consistency
from medtranslate.inferers.padding import crop_back, pad_to_roi, reflect_indices
from medtranslate.inferers.seams import SeamScore, seam_score, window_borders, window_starts
from medtranslate.inferers.slices import SliceTranslator, translate_slices
from medtranslate.inferers.sliding import AMP_DTYPES, VolumeTranslator, translate_volume
from medtranslate.inferers.workflow import ResizeNetwork, TranslationDirection, TranslationResult, TranslationWorkflow

__all__ = [
    "CycleResult",
    "cycle_consistency",
    "crop_back",
    "pad_to_roi",
    "reflect_indices",
    "SeamScore",
    "seam_score",
    "window_borders",
    "window_starts",
    "SliceTranslator",
    "translate_slices",
    "AMP_DTYPES",
    "VolumeTranslator",
    "translate_volume",
    "ResizeNetwork",
    "TranslationDirection",
    "TranslationResult",
    "TranslationWorkflow",
]
