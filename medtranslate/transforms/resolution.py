"""Resolution changes for super-resolution training and evaluation (seed 004's EDSR x2 stage).

The low-resolution input of a high-resolution image is its ``scale`` x ``scale`` box average (area downscaling):
the same degradation serves training (:class:`Downscaled`), the evaluation against bicubic interpolation and the
real-photograph check, so the figures compare like with like.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, Transform

from medtranslate.errors import InputError

__all__ = ["Downscale", "Downscaled", "downscale", "upscale_interpolated"]


def _batched(x: torch.Tensor, spatial_dims: int) -> tuple[torch.Tensor, bool]:
    if x.ndim == spatial_dims + 1:
        return x[None], True
    return x, False


def downscale(image: torch.Tensor, scale: int, spatial_dims: int = 2) -> torch.Tensor:
    """Box-average downscaling by an integer factor (trailing pixels that do not fill a box are dropped).

    Args:
        image: ``(C, *spatial)`` or ``(B, C, *spatial)``.
        scale: the integer factor (>= 1).
        spatial_dims: number of spatial axes, 2 or 3.

    Returns:
        The downscaled image, same layout, float.

    Raises:
        InputError: when an axis is shorter than ``scale``.
    """
    x = torch.as_tensor(image)
    x = x.as_tensor() if isinstance(x, MetaTensor) else x
    x, unbatch = _batched(x.float(), spatial_dims)
    if any(s < scale for s in x.shape[2:]):
        raise InputError(None, f"image of shape {tuple(x.shape[2:])} is smaller than the downscaling factor {scale}")
    pool = F.avg_pool2d if spatial_dims == 2 else F.avg_pool3d
    y = pool(x, kernel_size=scale, stride=scale)
    return y[0] if unbatch else y


def upscale_interpolated(image: torch.Tensor, scale: int, mode: str = "bicubic") -> torch.Tensor:
    """The interpolation baseline of super-resolution: ``scale`` x upsampling by ``mode`` (2D).

    Args:
        image: ``(C, H, W)`` or ``(B, C, H, W)``.
        scale: the factor.
        mode: ``"bicubic"``, ``"bilinear"`` or ``"nearest"``.

    Returns:
        The upsampled image, same layout.
    """
    x = torch.as_tensor(image)
    x = x.as_tensor() if isinstance(x, MetaTensor) else x
    x, unbatch = _batched(x.float(), 2)
    kwargs = {} if mode == "nearest" else {"align_corners": False}
    y = F.interpolate(x, scale_factor=scale, mode=mode, **kwargs)
    return y[0] if unbatch else y


class Downscale(Transform):
    """Array transform of :func:`downscale`.

    Args:
        scale: the integer factor.
        spatial_dims: number of spatial axes.
    """

    def __init__(self, scale: int = 2, spatial_dims: int = 2) -> None:
        self.scale = int(scale)
        self.spatial_dims = int(spatial_dims)

    def __call__(self, img: Any) -> torch.Tensor:
        """Downscale ``img`` (channel first).

        Args:
            img: ``(C, *spatial)``.
        """
        return downscale(img, self.scale, self.spatial_dims)


class Downscaled(MapTransform):
    """Dictionary version of :class:`Downscale`.

    Args:
        keys: keys to downscale.
        scale: the integer factor.
        spatial_dims: number of spatial axes.
        allow_missing_keys: skip missing keys.
    """

    def __init__(
        self, keys: KeysCollection, scale: int = 2, spatial_dims: int = 2, allow_missing_keys: bool = False
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.downscale = Downscale(scale, spatial_dims)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        """Downscale the keyed images.

        Args:
            data: the sample dict.
        """
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.downscale(d[key])
        return d
