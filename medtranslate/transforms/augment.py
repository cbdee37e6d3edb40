"""Training augmentation of the OCT2Confocal bundle (seed 000), built from MONAI transforms.

Seed 000 augments with horizontal flips, random zooms of 0.9-1.1 and random 512 x 512 crops from 522 x 522 images
(junyanz's ``resize_and_crop``: resize to ``load_size``, crop ``crop_size``). Stacks are ``(C, depth, H, W)``; the
zoom and the flip act in the en-face plane only, so a depth-9 slab stays 9 slices deep. The final crop to
``crop_size`` is :class:`medtranslate.data.UnpairedDataset`'s ``patch_size``; the depth slab is cut here first, so
the zoom only ever resamples 9 slices, not a whole 1024-deep OCT volume.
"""

from __future__ import annotations

from collections.abc import Sequence

from monai.config import KeysCollection
from monai.transforms import Compose, RandFlipd, RandSpatialCropd, RandZoomd, SqueezeDimd

__all__ = ["slab_augmentation", "training_patch_size"]


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
        zoom: ``(min, max)`` in-plane zoom factor; ``(1, 1)`` turns zooming off.
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
        in_plane = [1.0] if spatial_dims == 3 else []
        transforms.append(
            RandZoomd(
                keys,
                prob=zoom_prob,
                min_zoom=in_plane + [lo, lo],
                max_zoom=in_plane + [hi, hi],
                mode="trilinear" if spatial_dims == 3 else "bilinear",
                align_corners=False,
                padding_mode="reflect",
                keep_size=True,
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
