"""MONAI-style transforms: invertible intensity normalisations and input checks.

See docs/bundles/ct2mri.md and docs/inference.md.
"""

from __future__ import annotations

from medtranslate.transforms.augment import RandEnFaceZoomd
from medtranslate.transforms.checks import (
    ColourPhotoCheck,
    ModalityCheck,
    UpscaleCheck,
    VesselMapCheck,
    VolumeCheck,
    dicom_modality,
)
from medtranslate.transforms.fit import FIT_MODES, FitToSize, FitToSized
from medtranslate.transforms.grayscale import LUMINANCE_RGB, UnitGrayscale
from medtranslate.transforms.intensity import (
    CT_FULL_RANGE,
    HUWindow,
    HUWindowd,
    IntensityScale,
    PercentileNormalize,
    PercentileNormalized,
    ScaleRange,
    ScaleRanged,
)
from medtranslate.transforms.io import LoadVolumed
from medtranslate.transforms.resolution import Downscale, Downscaled, downscale, upscale_interpolated
from medtranslate.transforms.slices import Checkd, RandForegroundSliced, foreground_fractions, foreground_slices
from medtranslate.transforms.speckle import SPECKLE_DISTRIBUTIONS, RandSpeckle, RandSpeckled, speckle_factor
from medtranslate.transforms.stain import EOSIN_RGB, HEMATOXYLIN_RGB, GareauStain, GareauStaind
from medtranslate.transforms.tissue import he_darkness, otsu_tissue_mask, tissue_fraction
from medtranslate.transforms.vessels import VesselDeconvolution, deconvolve_vessels, gaussian_psf

__all__ = [
    "LUMINANCE_RGB",
    "UnitGrayscale",
    "RandEnFaceZoomd",
    "ColourPhotoCheck",
    "FIT_MODES",
    "FitToSize",
    "FitToSized",
    "ModalityCheck",
    "VolumeCheck",
    "UpscaleCheck",
    "VesselMapCheck",
    "VesselDeconvolution",
    "deconvolve_vessels",
    "gaussian_psf",
    "Downscale",
    "Downscaled",
    "downscale",
    "upscale_interpolated",
    "dicom_modality",
    "CT_FULL_RANGE",
    "HUWindow",
    "HUWindowd",
    "IntensityScale",
    "PercentileNormalize",
    "PercentileNormalized",
    "ScaleRange",
    "ScaleRanged",
    "LoadVolumed",
    "Checkd",
    "RandForegroundSliced",
    "foreground_fractions",
    "foreground_slices",
    "SPECKLE_DISTRIBUTIONS",
    "RandSpeckle",
    "RandSpeckled",
    "speckle_factor",
    "EOSIN_RGB",
    "HEMATOXYLIN_RGB",
    "GareauStain",
    "GareauStaind",
    "he_darkness",
    "otsu_tissue_mask",
    "tissue_fraction",
]
