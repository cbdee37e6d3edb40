"""Training augmentation of the OCT2Confocal bundle (seed 000), built from MONAI transforms.

Seed 000 augments with horizontal flips, random zooms of 0.9-1.1 and random 512 x 512 crops from 522 x 522 images
(junyanz's ``resize_and_crop``: resize to ``load_size``, crop ``crop_size``). Stacks are ``(C, depth, H, W)``; the
zoom and the flip act in the en-face plane only, so a depth-9 slab stays 9 slices deep. The zoom is one factor for
height and width (:class:`RandEnFaceZoomd`), so the aspect ratio is kept; MONAI's ``RandZoomd`` draws one factor per
axis. The final crop to
``crop_size`` is :class:`medtranslate.data.UnpairedDataset`'s ``patch_size``; the depth slab is cut here first, so
the zoom only ever resamples 9 slices, not a whole 1024-deep OCT volume.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import torch
from monai.config import KeysCollection
from monai.transforms import (
    Compose,
    MapTransform,
    RandFlipd,
    RandomizableTransform,
    RandSpatialCropd,
    SqueezeDimd,
    Zoom,
)

__all__ = ["RandEnFaceZoomd", "slab_augmentation", "training_patch_size"]


class RandEnFaceZoomd(RandomizableTransform, MapTransform):
    """Zoom the last two spatial axes (the en-face plane) by one random factor, keeping the aspect ratio and size.

    Axes before them (the depth of a ``(C, depth, H, W)`` slab) are not resampled. Every key gets the same factor.
    MONAI's ``RandZoomd`` draws a factor per axis, which stretches the aspect ratio (up to 1.1 / 0.9 = 1.22x for
    0.9-1.1); seed 000 zooms by one factor.

    Args:
        keys: image keys.
        prob: probability of zooming an item.
        min_zoom: smallest factor (< 1 zooms out; the border is padded with ``padding_mode``).
        max_zoom: largest factor.
        mode: interpolation (``"bilinear"``/``"trilinear"``/``"area"``/...; see ``monai.transforms.Zoom``).
        padding_mode: padding when zooming out (``"reflect"``, ``"constant"``, ...).
        align_corners: passed to the interpolation.
        allow_missing_keys: skip absent keys.
    """

    def __init__(
        self,
        keys: KeysCollection,
        prob: float = 1.0,
        min_zoom: float = 0.9,
        max_zoom: float = 1.1,
        mode: str = "bilinear",
        padding_mode: str = "reflect",
        align_corners: bool | None = False,
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        if not 0 < float(min_zoom) <= float(max_zoom):
            raise ValueError(f"need 0 < min_zoom <= max_zoom, got {min_zoom} and {max_zoom}")
        self.min_zoom, self.max_zoom = float(min_zoom), float(max_zoom)
        self.mode, self.padding_mode, self.align_corners = mode, padding_mode, align_corners
        self.factor = 1.0

    def randomize(self, data: Any = None) -> None:
        """Decide whether to zoom and draw the factor.

        Args:
            data: unused.
        """
        super().randomize(None)
        self.factor = float(self.R.uniform(self.min_zoom, self.max_zoom)) if self._do_transform else 1.0

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        """Zoom every key's en-face plane by one random factor.

        Args:
            data: the item; images are channel-first with 2 or 3 spatial axes.

        Returns:
            The item with zoomed images (same shapes).
        """
        d = dict(data)
        self.randomize()
        if not self._do_transform:
            return d
        for key in self.key_iterator(d):
            spatial = d[key].ndim - 1
            zoom = Zoom(
                (1.0,) * (spatial - 2) + (self.factor, self.factor),
                mode=self.mode,
                padding_mode=self.padding_mode,
                align_corners=self.align_corners,
                keep_size=True,
            )
            d[key] = zoom(d[key])
        return d


def slab_augmentation(
    keys: KeysCollection = "image",
    spatial_dims: int = 3,
    depth: int = 9,
    zoom: Sequence[float] = (0.9, 1.1),
    zoom_prob: float = 1.0,
    flip_prob: float = 0.5,
) -> Compose:
    """Random depth slab, in-plane zoom and horizontal flip of ``(C, depth, H, W)`` stacks.

    Args:
        keys: image keys.
        spatial_dims: 3 for the 3D CycleGANs (output ``(C, depth, H, W)``); 2 for the 2D baseline, which trains on
            single en-face slices (``depth`` must be 1; output ``(C, H, W)``).
        depth: slices per slab (seed 000: 9). A stack shallower than that is left whole here and padded by the
            dataset; the bundle's input check refuses such stacks before they get here.
        zoom: ``(min, max)`` in-plane zoom factor, one for height and width (aspect kept); ``(1, 1)`` turns zooming
            off.
        zoom_prob: probability of zooming an item.
        flip_prob: probability of a horizontal (last axis) flip.

    Returns:
        A MONAI ``Compose`` (randomisable; :class:`medtranslate.data.UnpairedDataset` re-seeds it per item).

    Raises:
        ValueError: for ``spatial_dims`` other than 2 or 3, ``depth < 1``, or 2D with ``depth != 1``.
    """
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
    if depth < 1 or (spatial_dims == 2 and depth != 1):
        raise ValueError(f"depth must be >= 1 (1 for the 2D baseline), got {depth} with spatial_dims={spatial_dims}")
    lo, hi = (float(z) for z in zoom)
    transforms: list = [RandSpatialCropd(keys, roi_size=(depth, -1, -1), random_size=False)]
    if spatial_dims == 2:
        transforms.append(SqueezeDimd(keys, dim=1))
    if hi > lo or lo != 1.0:
        transforms.append(
            RandEnFaceZoomd(
                keys,
                prob=zoom_prob,
                min_zoom=lo,
                max_zoom=hi,
                mode="trilinear" if spatial_dims == 3 else "bilinear",
                padding_mode="reflect",
                align_corners=False,
            )
        )
    transforms.append(RandFlipd(keys, prob=flip_prob, spatial_axis=spatial_dims - 1))
    return Compose(transforms)


def training_patch_size(spatial_dims: int, depth: int, crop_size: int) -> list[int]:
    """The dataset's ``patch_size``: ``[depth, crop, crop]`` in 3D, ``[crop, crop]`` for the 2D baseline.

    Args:
        spatial_dims: 2 or 3.
        depth: slab depth (3D only).
        crop_size: in-plane crop (seed 000: 512 from 522).

    Returns:
        The patch size.
    """
    return [int(depth), int(crop_size), int(crop_size)] if spatial_dims == 3 else [int(crop_size), int(crop_size)]
