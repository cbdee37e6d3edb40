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

__all__ = ["ssim", "psnr", "mae", "paired_metrics"]


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
