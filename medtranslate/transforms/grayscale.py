"""Any 2D photograph or grayscale image as one channel in [0, 1]: colour -> luminance, scaled by its dtype's range.

How seed 001 prepared its histology for the despeckling network (``invert`` makes bright-field tissue bright, as in
reflectance confocal microscopy).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import Transform

from medtranslate.errors import InputError

__all__ = ["UnitGrayscale", "LUMINANCE_RGB"]

#: scikit-image's ``rgb2gray`` weights.
LUMINANCE_RGB = (0.2125, 0.7154, 0.0721)


def _source(image: Any) -> str | None:
    meta = getattr(image, "meta", None)
    name = meta.get("filename_or_obj") if isinstance(meta, Mapping) else None
    return str(name) if name else None


class UnitGrayscale(Transform):
    """A channel-first 2D image ``(C, X, Y)`` as float32 ``(1, X, Y)`` in [0, 1].

    RGB(A) becomes luminance (:data:`LUMINANCE_RGB`); values are divided by 1, 255 or 65535, whichever range holds
    the image's maximum (by its own maximum beyond that), and clipped to [0, 1].

    Args:
        invert: return ``1 - gray`` (bright-field histology -> tissue bright, as in RCM).

    Raises:
        InputError: (when called) for a 3D image or one with neither 1 nor 3/4 channels, naming the file.
    """

    def __init__(self, invert: bool = False) -> None:
        self.invert = bool(invert)

    def __call__(self, image: Any) -> torch.Tensor:
        """Convert ``image`` (array, tensor or MetaTensor); returns a plain tensor."""
        t = image.as_tensor() if isinstance(image, MetaTensor) else torch.as_tensor(np.asarray(image))
        t = t.float()
        if t.ndim != 3:
            raise InputError(_source(image), f"is not a 2D image (shape {tuple(t.shape[1:])})")
        if t.shape[0] in (3, 4):
            t = (t[:3] * torch.tensor(LUMINANCE_RGB).view(3, 1, 1)).sum(0, keepdim=True)
        elif t.shape[0] != 1:
            raise InputError(_source(image), f"has {t.shape[0]} channels; give grayscale or RGB images")
        top = float(t.max())
        scale = 1.0 if top <= 1.0 else 255.0 if top <= 255 else 65535.0 if top <= 65535 else top
        t = (t / scale).clamp(0, 1)
        return 1.0 - t if self.invert else t
