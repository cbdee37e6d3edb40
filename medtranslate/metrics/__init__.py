"""Metrics on tensors: FID / KID with a recorded Inception network, SSIM / PSNR / MAE, projections, figures, reports.

Nothing here reads datalists or runs models: :mod:`medtranslate.workflows` does, from each bundle's evaluate.json.

See docs/evaluation.md for what each number means.
"""

from __future__ import annotations

from medtranslate.metrics.classification import classification_scores, mean_ci
from medtranslate.metrics.features import FeatureNetworkInfo, InceptionFeatureExtractor, default_inception_path
from medtranslate.metrics.fid_kid import (
    FIDKID,
    KIDResult,
    fid_kid,
    frechet_distance,
    kernel_inception_distance,
    polynomial_mmd2_unbiased,
)
from medtranslate.metrics.figures import save_image_grid, save_panel_figure, save_side_by_side, to_display
from medtranslate.metrics.inception import FIDInceptionV3, state_dict_from_fid_helper
from medtranslate.metrics.profile import depth_profile, layer_profile_correlation
from medtranslate.metrics.projection import StackImages, en_face_projection, stack_images, volume_slices
from medtranslate.metrics.report import flatten_results, to_jsonable, write_report
from medtranslate.metrics.similarity import (
    MeanAbsoluteError,
    SliceSimilarity,
    VolumeSimilarity,
    mae,
    paired_metrics,
    psnr,
    slice_metrics,
    ssim,
)
from medtranslate.metrics.vessels import VESSEL_STATISTICS, reference_ssim, summarize_statistics, vessel_statistics

__all__ = [
    "save_image_grid",
    "VESSEL_STATISTICS",
    "reference_ssim",
    "summarize_statistics",
    "vessel_statistics",
    "classification_scores",
    "mean_ci",
    "depth_profile",
    "layer_profile_correlation",
    "FeatureNetworkInfo",
    "InceptionFeatureExtractor",
    "default_inception_path",
    "FIDKID",
    "KIDResult",
    "fid_kid",
    "frechet_distance",
    "kernel_inception_distance",
    "polynomial_mmd2_unbiased",
    "save_panel_figure",
    "save_side_by_side",
    "to_display",
    "FIDInceptionV3",
    "state_dict_from_fid_helper",
    "en_face_projection",
    "volume_slices",
    "stack_images",
    "StackImages",
    "flatten_results",
    "to_jsonable",
    "write_report",
    "mae",
    "paired_metrics",
    "psnr",
    "ssim",
    "slice_metrics",
    "SliceSimilarity",
    "VolumeSimilarity",
    "MeanAbsoluteError",
]
