"""Paired (full-reference) metrics: SSIM, PSNR and MAE, in 2D and 3D, with the data range always explicit.

SSIM and PSNR are MONAI's :class:`~monai.metrics.SSIMMetric` and :class:`~monai.metrics.PSNRMetric`; MAE is MONAI's
:class:`~monai.metrics.MAEMetric`, or a masked mean when a mask is given. Compute them in the modality's own units
(HU for CT) after undoing the network's [-1, 1] scaling, so that MAE reads "HU" and ``data_range`` is the physical
window (for example 4095 for CT in [-1024, 3071]).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from monai.metrics import MAEMetric, PSNRMetric, SSIMMetric

from medtranslate.errors import ConfigError, InputError

__all__ = [
    "ssim",
    "psnr",
    "mae",
    "paired_metrics",
    "slice_metrics",
    "SliceSimilarity",
    "VolumeSimilarity",
    "MeanAbsoluteError",
]


def _pair(pred: Any, target: Any, spatial_dims: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Bring both images to (B, C, *spatial) float32 CPU tensors; a missing batch or channel axis is added."""
    if spatial_dims not in (2, 3):
        raise ConfigError(None, f"spatial_dims must be 2 or 3, got {spatial_dims}")
    out = []
    for name, x in (("prediction", pred), ("target", target)):
        t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
        t = t.detach().cpu().float()
        while t.ndim < spatial_dims + 2:
            t = t[None]
        if t.ndim != spatial_dims + 2:
            raise InputError(None, f"{name} has shape {tuple(t.shape)}, not (B, C, {spatial_dims} spatial axes)")
        if not torch.isfinite(t).all():
            raise InputError(None, f"{name} holds NaN or infinite values")
        out.append(t)
    if out[0].shape != out[1].shape:
        raise InputError(None, f"prediction shape {tuple(out[0].shape)} differs from target {tuple(out[1].shape)}")
    return out[0], out[1]


def _range(data_range: float) -> float:
    r = float(data_range)
    if not r > 0:
        raise ConfigError(None, f"data_range must be positive (the width of the value range), got {data_range}")
    return r


def ssim(
    pred: Any,
    target: Any,
    spatial_dims: int,
    data_range: float,
    win_size: int | Sequence[int] = 11,
    kernel_type: str = "gaussian",
    kernel_sigma: float | Sequence[float] = 1.5,
) -> torch.Tensor:
    """Structural similarity per image (1 for identical images), MONAI's SSIMMetric.

    Args:
        pred: (B, C, *spatial), (C, *spatial) or (*spatial) prediction.
        target: same shape as ``pred``.
        spatial_dims: 2 or 3.
        data_range: width of the value range (``max - min``; 255 for 8-bit, 2 for [-1, 1], 4095 for CT HU).
        win_size: window size, an int or one per axis; each spatial size must be at least this large (use for
            example ``(7, 11, 11)`` for thin stacks).
        kernel_type: "gaussian" (Wang et al.) or "uniform".
        kernel_sigma: Gaussian sigma.

    Returns:
        (B,) tensor: SSIM of each batch item, averaged over channels and the valid window positions.

    Raises:
        InputError: on mismatched shapes or non-finite values.
        ConfigError: on a bad ``data_range`` or an image smaller than the window.
    """
    p, t = _pair(pred, target, spatial_dims)
    win = tuple(win_size) if isinstance(win_size, Sequence) else (int(win_size),) * spatial_dims
    if len(win) != spatial_dims or any(s < w for s, w in zip(p.shape[2:], win)):
        size = tuple(p.shape[2:])
        raise ConfigError(None, f"SSIM window {win} does not fit the image {size}: give a smaller win_size")
    metric = SSIMMetric(
        spatial_dims, data_range=_range(data_range), kernel_type=kernel_type, win_size=win, kernel_sigma=kernel_sigma
    )
    return metric(p, t).reshape(-1)


def psnr(pred: Any, target: Any, spatial_dims: int, data_range: float) -> torch.Tensor:
    """Peak signal-to-noise ratio per image in dB, MONAI's PSNRMetric (``inf`` for identical images).

    Args:
        pred: (B, C, *spatial), (C, *spatial) or (*spatial) prediction.
        target: same shape as ``pred``.
        spatial_dims: 2 or 3.
        data_range: width of the value range, the "peak" of PSNR.

    Returns:
        (B,) tensor ``20 log10(data_range) - 10 log10(MSE)``.
    """
    p, t = _pair(pred, target, spatial_dims)
    return PSNRMetric(max_val=_range(data_range))(p, t).reshape(-1)


def mae(pred: Any, target: Any, spatial_dims: int, mask: Any | None = None) -> torch.Tensor:
    """Mean absolute error per image, in the units of the inputs (HU when given HU).

    Args:
        pred: (B, C, *spatial), (C, *spatial) or (*spatial) prediction.
        target: same shape as ``pred``.
        spatial_dims: 2 or 3.
        mask: optional boolean mask broadcastable to the images (for example the body outline); only voxels where it
            is true count.

    Returns:
        (B,) tensor.

    Raises:
        InputError: when the mask does not broadcast or selects nothing in an image.
    """
    p, t = _pair(pred, target, spatial_dims)
    if mask is None:
        return MAEMetric()(p, t).reshape(-1)
    m = mask if isinstance(mask, torch.Tensor) else torch.as_tensor(np.asarray(mask))
    m = m.detach().cpu().bool()
    given = tuple(m.shape)
    while m.ndim < p.ndim:
        m = m[None]
    try:
        m = torch.broadcast_to(m, p.shape)
    except RuntimeError as e:
        raise InputError(None, f"mask shape {given} does not match the images {tuple(p.shape)}") from e
    counts = m.flatten(1).sum(1)
    if (counts == 0).any():
        raise InputError(None, "the mask selects no voxel in at least one image")
    return ((p - t).abs() * m).flatten(1).sum(1) / counts


def paired_metrics(
    pred: Any,
    target: Any,
    spatial_dims: int,
    data_range: float,
    units: str = "",
    mask: Any | None = None,
    win_size: int | Sequence[int] = 11,
) -> dict[str, dict[str, Any]]:
    """SSIM, PSNR and MAE averaged over the batch, as report entries.

    Args:
        pred: prediction, see :func:`ssim`.
        target: reference.
        spatial_dims: 2 or 3.
        data_range: width of the value range.
        units: the units of the values (for example "HU"), recorded with MAE.
        mask: optional mask for MAE.
        win_size: SSIM window.

    Returns:
        ``{"SSIM": {"value", "std", "n"}, "PSNR": {..., "units": "dB"}, "MAE": {..., "units": units}}``.
    """
    entries = {
        "SSIM": (ssim(pred, target, spatial_dims, data_range, win_size=win_size), ""),
        "PSNR": (psnr(pred, target, spatial_dims, data_range), "dB"),
        "MAE": (mae(pred, target, spatial_dims, mask=mask), units),
    }
    out: dict[str, dict[str, Any]] = {}
    for name, (values, unit) in entries.items():
        v = values.double()
        out[name] = {
            "value": float(v.mean()),
            "std": float(v.std(unbiased=False)),
            "n": int(v.numel()),
            "units": unit,
            "data_range": float(data_range),
        }
    return out


def _slices(volume: torch.Tensor, axis: int) -> torch.Tensor:
    """(C, D1, D2, D3) -> (N, C, H, W) slices along spatial ``axis``; 2D (C, H, W) -> (1, C, H, W)."""
    if volume.ndim == 3:
        return volume.unsqueeze(0)
    return volume.movedim(1 + axis, 0)


def _plain(x: Any) -> torch.Tensor:
    t = torch.as_tensor(x)
    return t.as_tensor() if hasattr(t, "as_tensor") else t


def slice_metrics(
    pred: torch.Tensor,
    target: torch.Tensor,
    axis: int,
    data_range: float = 2.0,
    keep: torch.Tensor | None = None,
    which: Sequence[str] = ("ssim", "psnr"),
) -> dict[str, list[float]]:
    """Per-slice 2D SSIM and PSNR of two volumes (the paper's 2D SSIM, averaged later over slices).

    Args:
        pred: (C, *spatial) prediction.
        target: same shape.
        axis: slicing axis among the spatial axes.
        data_range: value range width (2 for [-1, 1]).
        keep: boolean per slice: which slices count (default all).
        which: the metrics to compute (``"ssim"``, ``"psnr"``).

    Returns:
        ``{"ssim": [...], "psnr": [...]}`` for the kept slices.
    """
    p, t = _slices(_plain(pred).float(), axis), _slices(_plain(target).float(), axis)
    if keep is not None:
        p, t = p[keep], t[keep]
    if p.shape[0] == 0:
        return {name: [] for name in which}
    out: dict[str, list[float]] = {}
    if "ssim" in which:
        win = min(11, *p.shape[2:])
        win -= (win + 1) % 2  # odd window that fits
        out["ssim"] = [float(v) for v in ssim(p, t, spatial_dims=2, data_range=data_range, win_size=max(win, 3))]
    if "psnr" in which:
        out["psnr"] = [float(v) for v in psnr(p, t, spatial_dims=2, data_range=data_range)]
    return out


class SliceSimilarity:
    """Slice-wise 2D SSIM or PSNR of two volumes, for an evaluation workflow's metric entry.

    Slices whose ``mask`` volume (the network input) has less than ``min_foreground`` of voxels above
    ``background`` are skipped, as in training.

    Args:
        metric: ``"ssim"`` or ``"psnr"``.
        axis: slicing axis among the spatial axes.
        data_range: value range width (2 for [-1, 1]).
        background: level at or below which a voxel of ``mask`` is background.
        min_foreground: the least foreground fraction of a counted slice.
    """

    def __init__(
        self,
        metric: str = "ssim",
        axis: int = 2,
        data_range: float = 2.0,
        background: float = -0.95,
        min_foreground: float = 0.05,
    ) -> None:
        if metric not in ("ssim", "psnr"):
            raise ConfigError(None, f"slice metric must be 'ssim' or 'psnr', not {metric!r}")
        self.metric, self.axis, self.data_range = metric, int(axis), float(data_range)
        self.background, self.min_foreground = float(background), float(min_foreground)

    def __call__(self, pred: Any, target: Any, mask: Any | None = None) -> list[float]:
        """One value per counted slice.

        Args:
            pred: (C, *spatial) prediction.
            target: same shape.
            mask: the volume whose foreground decides which slices count (default: all count).
        """
        keep = None
        if mask is not None:
            fg = (_plain(mask) > self.background).float()
            keep = _slices(fg, self.axis).flatten(1).mean(1) >= self.min_foreground
        return slice_metrics(pred, target, self.axis, self.data_range, keep, which=(self.metric,))[self.metric]


class VolumeSimilarity:
    """Whole-volume SSIM or PSNR (3D windows clipped to thin stacks), for an evaluation workflow's metric entry.

    Args:
        metric: ``"ssim"`` or ``"psnr"``.
        data_range: value range width (2 for [-1, 1]).
        spatial_dims: 2 or 3.
    """

    def __init__(self, metric: str = "ssim", data_range: float = 2.0, spatial_dims: int = 3) -> None:
        if metric not in ("ssim", "psnr"):
            raise ConfigError(None, f"volume metric must be 'ssim' or 'psnr', not {metric!r}")
        self.metric, self.data_range, self.spatial_dims = metric, float(data_range), int(spatial_dims)

    def __call__(self, pred: Any, target: Any) -> float:
        """The metric of one (C, *spatial) pair.

        Args:
            pred: prediction.
            target: same shape.
        """
        p, t = _plain(pred).float()[None], _plain(target).float()[None]
        if self.metric == "psnr":
            return float(psnr(p, t, spatial_dims=self.spatial_dims, data_range=self.data_range).mean())
        win = [min(11, s if s % 2 else s - 1) for s in t.shape[2:]]
        return float(ssim(p, t, spatial_dims=self.spatial_dims, data_range=self.data_range, win_size=win).mean())


class MeanAbsoluteError:
    """Mean absolute error of one pair in its units, over all voxels or over ``target > threshold`` (the body).

    Args:
        threshold: count only voxels whose target value is above this (e.g. -500 HU); ``None`` counts all.
    """

    def __init__(self, threshold: float | None = None) -> None:
        self.threshold = None if threshold is None else float(threshold)

    def __call__(self, pred: Any, target: Any) -> float | None:
        """The mean absolute error (``None`` when no voxel is above the threshold).

        Args:
            pred: prediction.
            target: reference, same shape.
        """
        p, t = _plain(pred).float(), _plain(target).float()
        err = (p - t).abs()
        if self.threshold is None:
            return float(err.mean())
        body = t > self.threshold
        return float(err[body].mean()) if bool(body.any()) else None
