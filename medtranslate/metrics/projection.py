"""En-face projections and slice stacks of volumes: the 2D images that FID / KID and the figures work on.

OCT and confocal stacks are shown, and compared by FID / KID, as fundus-like en-face projections along the depth axis
(seed 000: "results are displayed as fundus-like 2D projections from the translated 3D volume").
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from medtranslate.errors import ConfigError, InputError

__all__ = ["en_face_projection", "volume_slices", "stack_images", "StackImages"]


def _plain(volume: Any) -> Any:
    if isinstance(volume, torch.Tensor):
        return volume.as_tensor() if hasattr(volume, "as_tensor") else volume  # a MetaTensor's affine would be stale
    if isinstance(volume, np.ndarray):
        return volume
    return np.asarray(volume)


def _axis(ndim: int, axis: int) -> int:
    if not -ndim <= axis < ndim:
        raise ConfigError(None, f"axis {axis} is out of range for a {ndim}-d volume")
    return axis % ndim


def en_face_projection(volume: Any, axis: int, mode: str = "mean", slab: tuple[int, int] | None = None) -> Any:
    """Project a stack along ``axis`` (mean intensity or maximum intensity projection).

    Args:
        volume: numpy array or torch tensor, for example (D, H, W) or channel-first (C, D, H, W) (then ``axis=1`` is
            the depth).
        axis: the axis to project along (negative values count from the end).
        mode: "mean" (average intensity, the fundus-like view) or "max" (maximum intensity projection).
        slab: optional ``(start, stop)`` indices along ``axis`` to project only a range of layers (for example the
            ILM to IPL layers).

    Returns:
        The projection, of the same kind as ``volume`` (numpy in, numpy out; tensors come back as plain tensors),
        with ``axis`` removed; floating point.

    Raises:
        ConfigError: on a bad axis, mode or slab.
        InputError: when the selected slab is empty.
    """
    v = _plain(volume)
    ax = _axis(v.ndim, axis)
    if mode not in ("mean", "max"):
        raise ConfigError(None, f"projection mode must be 'mean' or 'max', got {mode!r}")
    if slab is not None:
        start, stop = int(slab[0]), int(slab[1])
        if not 0 <= start < stop <= v.shape[ax]:
            raise ConfigError(None, f"slab {tuple(slab)} is outside the {v.shape[ax]} layers along axis {axis}")
        index = [slice(None)] * v.ndim
        index[ax] = slice(start, stop)
        v = v[tuple(index)]
    if v.shape[ax] == 0:
        raise InputError(None, f"the volume has no layer along axis {axis}")
    if isinstance(v, torch.Tensor):
        v = v.float() if not v.is_floating_point() else v
        return v.mean(dim=ax) if mode == "mean" else v.amax(dim=ax)
    v = v.astype(np.float32) if not np.issubdtype(v.dtype, np.floating) else v
    return v.mean(axis=ax) if mode == "mean" else v.max(axis=ax)


def volume_slices(volume: Any, axis: int, step: int = 1) -> Any:
    """Stack the slices of ``volume`` along ``axis`` first: (N, *rest), ready for the Inception feature extractor.

    Args:
        volume: numpy array or torch tensor, for example (D, H, W) gives (D, H, W) slices, (C, D, H, W) with
            ``axis=1`` gives (D, C, H, W).
        axis: the slicing axis.
        step: keep every ``step``-th slice.

    Returns:
        Slices of the same kind as ``volume`` (tensors come back as plain tensors).
    """
    v = _plain(volume)
    ax = _axis(v.ndim, axis)
    if step < 1:
        raise ConfigError(None, f"step must be >= 1, got {step}")
    if isinstance(v, torch.Tensor):
        return v.movedim(ax, 0)[::step]
    return np.moveaxis(v, ax, 0)[::step]


def stack_images(volume: Any, depth_axis: int = 0, images: str = "projection", mode: str = "mean") -> list[Any]:
    """2D images of a channel-first stack for the Inception features: its en-face projection, or its en-face slices.

    Args:
        volume: ``(C, *spatial)`` stack.
        depth_axis: the depth axis among the spatial axes.
        images: ``"projection"`` (one fundus-like image per stack) or ``"slices"`` (one image per depth slice).
        mode: projection mode, ``"mean"`` or ``"max"``.

    Returns:
        A list of ``(C, H, W)`` tensors.

    Raises:
        ConfigError: on an unknown ``images`` kind.
    """
    t = volume.as_tensor() if hasattr(volume, "as_tensor") else torch.as_tensor(volume)
    axis = 1 + depth_axis % 3
    if images == "projection":
        return [en_face_projection(t.float(), axis=axis, mode=mode)]
    if images == "slices":
        return list(volume_slices(t.float(), axis=axis))
    raise ConfigError(None, f"images must be 'projection' or 'slices', not {images!r}")


class StackImages:
    """:func:`stack_images` with fixed settings: the ``prepare`` step of a set metric (FID / KID) on stacks.

    Args:
        depth_axis: the depth axis among the spatial axes.
        images: ``"projection"`` or ``"slices"``.
        mode: projection mode, ``"mean"`` or ``"max"``.

    Raises:
        ConfigError: on an unknown ``images`` kind.
    """

    def __init__(self, depth_axis: int = 0, images: str = "projection", mode: str = "mean") -> None:
        if images not in ("projection", "slices"):
            raise ConfigError(None, f"images must be 'projection' or 'slices', not {images!r}")
        self.depth_axis, self.images, self.mode = int(depth_axis), images, mode

    def __call__(self, volume: Any) -> list[Any]:
        """The 2D images of one stack.

        Args:
            volume: ``(C, *spatial)`` stack.
        """
        return stack_images(volume, self.depth_axis, self.images, self.mode)
