"""Deconvolution denoising of generated vessel maps (seed 004's step between the VAE and pix2pix).

A VAE decodes blurred vessel probabilities: thin vessels fade and neighbouring vessels merge. Seed 004 deblurs the
samples by deconvolution before they condition pix2pix. Here that is scikit-image's Richardson-Lucy deconvolution
with a **Gaussian point-spread function** (the blur of a decoder trained with a pixel-wise loss is close to a
Gaussian), followed by a threshold:

``binary = richardson_lucy(probability, gaussian_psf(psf_sigma), num_iter) >= threshold``

``psf_sigma`` is in pixels of the map (1.0 at 512x512 by default; scale it with the image size), the kernel is
truncated at 3 sigma and normalised to sum 1. ``psf_sigma=0`` skips the deconvolution (a plain threshold), which is
the "no deconvolution" baseline of the evaluation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from monai.transforms import Transform
from monai.utils import optional_import

from medtranslate.errors import ConfigError

richardson_lucy, _has_skimage = optional_import("skimage.restoration", name="richardson_lucy")

__all__ = ["gaussian_psf", "deconvolve_vessels", "VesselDeconvolution"]


def gaussian_psf(sigma: float, truncate: float = 3.0) -> np.ndarray:
    """A normalised 2D Gaussian point-spread function.

    Args:
        sigma: standard deviation in pixels (> 0).
        truncate: half-width in sigmas.

    Returns:
        ``(2r + 1, 2r + 1)`` float64 kernel summing to 1, ``r = ceil(truncate * sigma)``.
    """
    if sigma <= 0:
        raise ConfigError(None, f"the point-spread function needs sigma > 0, got {sigma}")
    r = int(np.ceil(truncate * sigma))
    x = np.arange(-r, r + 1, dtype=np.float64)
    g = np.exp(-(x**2) / (2 * sigma**2))
    k = np.outer(g, g)
    return k / k.sum()


def deconvolve_vessels(
    probability: Any, psf_sigma: float = 1.0, num_iter: int = 10, threshold: float = 0.5
) -> np.ndarray:
    """Richardson-Lucy deconvolution of a vessel probability map, then a threshold.

    Args:
        probability: ``(H, W)`` map in [0, 1] (values outside are clipped).
        psf_sigma: Gaussian PSF sigma in pixels; 0 skips the deconvolution.
        num_iter: Richardson-Lucy iterations.
        threshold: vessel where the (deconvolved) value is at least this.

    Returns:
        ``(H, W)`` bool vessel mask.
    """
    p = probability.detach().cpu().numpy() if isinstance(probability, torch.Tensor) else np.asarray(probability)
    p = np.clip(p.astype(np.float64), 0.0, 1.0)
    if psf_sigma > 0:
        p = richardson_lucy(p, gaussian_psf(psf_sigma), num_iter=int(num_iter), clip=True)
    return p >= threshold


class VesselDeconvolution(Transform):
    """Array transform of :func:`deconvolve_vessels` on channel-first maps.

    Args:
        psf_sigma: Gaussian PSF sigma in pixels; 0: threshold only.
        num_iter: Richardson-Lucy iterations.
        threshold: binarisation threshold.
    """

    def __init__(self, psf_sigma: float = 1.0, num_iter: int = 10, threshold: float = 0.5) -> None:
        if psf_sigma < 0 or num_iter < 1 or not 0 < threshold < 1:
            raise ConfigError(
                None, f"need psf_sigma >= 0, num_iter >= 1, 0 < threshold < 1; got {psf_sigma}, {num_iter}, {threshold}"
            )
        self.psf_sigma = float(psf_sigma)
        self.num_iter = int(num_iter)
        self.threshold = float(threshold)

    def __call__(self, img: Any) -> torch.Tensor:
        """Deblur and binarise every channel.

        Args:
            img: ``(C, H, W)`` probabilities in [0, 1].

        Returns:
            ``(C, H, W)`` float32 tensor of 0 and 1.
        """
        x = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
        out = np.stack([deconvolve_vessels(c, self.psf_sigma, self.num_iter, self.threshold) for c in x])
        return torch.from_numpy(out.astype(np.float32))
