"""Evaluation metrics: FID / KID with a recorded Inception network, SSIM / PSNR / MAE, projections and reports.

See docs/evaluation.md for what each number means.
"""

from __future__ import annotations

from medtranslate.metrics.evaluation import CycleGANEvaluation, save_panel_figure, slice_metrics
from medtranslate.metrics.features import FeatureNetworkInfo, InceptionFeatureExtractor, default_inception_path
from medtranslate.metrics.fid_kid import (
    KIDResult,
    fid_kid,
    frechet_distance,
    kernel_inception_distance,
    polynomial_mmd2_unbiased,
)
from medtranslate.metrics.figures import save_side_by_side, to_display
from medtranslate.metrics.inception import FIDInceptionV3, state_dict_from_fid_helper
from medtranslate.metrics.projection import en_face_projection, volume_slices
from medtranslate.metrics.report import flatten_results, to_jsonable, write_report
from medtranslate.metrics.similarity import mae, paired_metrics, psnr, ssim

__all__ = [
    "CycleGANEvaluation",
    "save_panel_figure",
    "slice_metrics",
    "FeatureNetworkInfo",
    "InceptionFeatureExtractor",
    "default_inception_path",
    "KIDResult",
    "fid_kid",
    "frechet_distance",
    "kernel_inception_distance",
    "polynomial_mmd2_unbiased",
    "save_side_by_side",
    "to_display",
    "FIDInceptionV3",
    "state_dict_from_fid_helper",
    "en_face_projection",
    "volume_slices",
    "flatten_results",
    "to_jsonable",
    "write_report",
    "mae",
    "paired_metrics",
    "psnr",
    "ssim",
]
