"""Fit photographs of any size to a network's square input: crop, pad or squash, then resize (seed 002's fundus)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import torch
from monai.config import KeysCollection
from monai.transforms import CenterSpatialCrop, MapTransform, Resize, SpatialPad

from medtranslate.errors import ConfigError

__all__ = ["FIT_MODES", "FitToSize", "FitToSized"]

#: How :class:`FitToSize` makes an image square before resizing it.
FIT_MODES: tuple[str, ...] = ("crop", "pad", "resize")


class FitToSize:
    """Bring a channel-first 2D image of any size to ``size``.

    ``fit="crop"`` takes the centred square of the shorter side (a fundus photograph's round field of view mostly
    survives, the black corners of a wide frame go), ``"pad"`` pads the longer side with zeros to a square (nothing is
    lost), ``"resize"`` squashes the image to ``size`` (aspect ratio not kept). Then the square is resized with
    anti-aliasing. ``channels`` keeps only the first channels (an RGBA PNG's alpha goes).

    Args:
        size: the output spatial size, e.g. ``(256, 256)``.
        fit: one of :data:`FIT_MODES`.
        mode: interpolation of the resize.
        channels: keep this many leading channels (``None``: all).

    Raises:
        ConfigError: for an unknown ``fit``.
    """

    def __init__(
        self, size: Sequence[int], fit: str = "crop", mode: str = "bilinear", channels: int | None = None
    ) -> None:
        if fit not in FIT_MODES:
            raise ConfigError(None, f"unknown fit {fit!r}: use one of {', '.join(FIT_MODES)}")
        self.size = [int(s) for s in size]
        self.fit = fit
        self.channels = channels
        self.resize = Resize(self.size, mode=mode, anti_aliasing=mode != "nearest")

    def __call__(self, image: Any) -> Any:
        """Fit ``image``.

        Args:
            image: ``(C, H, W)`` tensor or MetaTensor.

        Returns:
            ``(C', *size)`` float32.
        """
        if self.channels is not None:
            image = image[: self.channels]
        image = image.float() if isinstance(image, torch.Tensor) else torch.as_tensor(image, dtype=torch.float32)
        spatial = [int(s) for s in image.shape[1:]]
        if self.fit == "crop":
            image = CenterSpatialCrop([min(spatial)] * len(spatial))(image)
        elif self.fit == "pad":
            image = SpatialPad([max(spatial)] * len(spatial))(image)
        if [int(s) for s in image.shape[1:]] != self.size:
            image = self.resize(image)
        return image


class FitToSized(MapTransform):
    """Dictionary version of :class:`FitToSize`.

    Args:
        keys: keys of the images.
        size: the output spatial size.
        fit: one of :data:`FIT_MODES`.
        mode: interpolation of the resize.
        channels: keep this many leading channels (``None``: all).
        allow_missing_keys: skip missing keys.
    """

    def __init__(
        self,
        keys: KeysCollection,
        size: Sequence[int],
        fit: str = "crop",
        mode: str = "bilinear",
        channels: int | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.fitter = FitToSize(size, fit, mode, channels)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        """Fit every key.

        Args:
            data: the item.

        Returns:
            A new dict with the fitted images.
        """
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.fitter(d[key])
        return d
