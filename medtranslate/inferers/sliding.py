"""Whole-volume translation with overlapping windows: MONAI's SlidingWindowInferer plus the things translation needs.

What this adds on top of :class:`monai.inferers.SlidingWindowInferer`:

* the network may map C input channels to C' output channels (OCT 1 -> confocal RGB 3); MONAI stitches any count;
* device handling: windows run on ``sw_device`` (the network's device by default) while the volume stays on the host;
  the output is stitched on ``stitch_device`` ("cpu" keeps GPU memory independent of the volume size);
* mixed precision ("bf16" / "fp16") for the network only: stitching is always float32;
* stacks shallower (or smaller) than the window are padded - mirrored by default - and cropped back;
* on CUDA out-of-memory, the run is retried with CPU stitching, then with half the window batch;
* the network runs in eval mode under ``torch.inference_mode`` and its training flag is restored afterwards.

Seams: instance-norm generators normalise each window on its own statistics, so tiles can differ in brightness.
Defaults chosen by measurement (benchmarks/inference_sweep.py, docs/inference.md): overlap 0.25 (as ganslate) and
Gaussian blending: seam-free at the noise floor and about twice the throughput of overlap 0.5.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor
from monai.inferers import SlidingWindowInferer
from torch import nn

from medtranslate.errors import ConfigError, InputError
from medtranslate.inferers.padding import PAD_MODES, crop_back, pad_to_roi
from medtranslate.utils.amp import AUTO, autocast, resolve_amp

__all__ = ["VolumeTranslator", "translate_volume"]

logger = logging.getLogger(__name__)

_OOM = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)


def _network_device(network: Callable) -> torch.device | None:
    if isinstance(network, nn.Module):
        for t in itertools.chain(network.parameters(), network.buffers()):
            return t.device
    return None


class VolumeTranslator:
    """Translate whole volumes (or large 2D images) window by window with Gaussian-weighted blending.

    Args:
        roi_size: window size, one entry per spatial axis (for example ``(9, 256, 256)`` for OCT stacks); a
            non-positive entry means "the whole axis". With downsampling generators each entry must be divisible by
            ``2 ** n_downsampling``.
        sw_batch_size: windows per network call.
        overlap: fraction of overlap between neighbouring windows along each axis, in [0, 1).
        mode: "gaussian" (windows fade out towards their borders; recommended) or "constant" (plain average).
        sigma_scale: Gaussian sigma as a fraction of the window size.
        device: one switch for both the window computation and the stitching (for example "cuda").
        sw_device: where windows are computed; defaults to ``device``, else to the network's device.
        stitch_device: where the output is accumulated; defaults to ``device``, else ``sw_device``. Use "cpu" when
            the GPU is short of memory (the output and weight maps then live in host memory).
        amp: "auto" (bf16 where the window device computes it natively, see :mod:`medtranslate.utils.amp`),
            "bf16", "fp16" or "none"/"fp32"/None (any spelling :func:`medtranslate.utils.amp.resolve_amp` accepts, the
            trainers' parser): autocast dtype of the network forward pass.
        pad_mode: how axes shorter than the window are padded: "reflect" (default; the network and its instance
            norms see mirrored tissue instead of a flat slab), "replicate" or "constant" (``padding_cval``).
        padding_cval: fill value of "constant" padding, -1 = background in the network's [-1, 1] range.
        progress: show a tqdm bar over the windows.
        oom_fallback: on CUDA out-of-memory, retry with CPU stitching, then with halved ``sw_batch_size``.
        output_scale: spatial factor between the network's output and input windows (2 for a x2 super-resolution
            network such as EDSR; MONAI stitches zoomed windows itself); the output's affine is scaled to match.

    Raises:
        ConfigError: on invalid settings.
    """

    def __init__(
        self,
        roi_size: Sequence[int] | int,
        sw_batch_size: int = 4,
        overlap: Sequence[float] | float = 0.25,
        mode: str = "gaussian",
        sigma_scale: Sequence[float] | float = 0.125,
        device: str | torch.device | None = None,
        sw_device: str | torch.device | None = None,
        stitch_device: str | torch.device | None = None,
        amp: str | None = None,
        pad_mode: str = "reflect",
        padding_cval: float = -1.0,
        progress: bool = False,
        oom_fallback: bool = True,
        output_scale: int = 1,
    ) -> None:
        if int(output_scale) < 1:
            raise ConfigError(None, f"output_scale must be a positive integer, got {output_scale}")
        self.output_scale = int(output_scale)
        self.roi_size = tuple(int(r) for r in (roi_size if isinstance(roi_size, Sequence) else (roi_size,)))
        if not self.roi_size:
            raise ConfigError(None, "roi_size must have one entry per spatial axis")
        overlaps = overlap if isinstance(overlap, Sequence) else (overlap,) * len(self.roi_size)
        if len(overlaps) != len(self.roi_size) or any(not 0.0 <= float(o) < 1.0 for o in overlaps):
            n = len(self.roi_size)
            raise ConfigError(None, f"overlap must be in [0, 1) for each of the {n} axes, got {overlap}")
        if mode not in ("gaussian", "constant"):
            raise ConfigError(None, f"blend mode must be 'gaussian' or 'constant', got {mode!r}")
        if pad_mode not in PAD_MODES:
            raise ConfigError(None, f"pad_mode must be one of {PAD_MODES}, got {pad_mode!r}")
        if int(sw_batch_size) < 1:
            raise ConfigError(None, f"sw_batch_size must be >= 1, got {sw_batch_size}")
        self.sw_batch_size = int(sw_batch_size)
        self.overlap = tuple(float(o) for o in overlaps)
        self.mode = mode
        self.sigma_scale = sigma_scale
        self.device = None if device is None else torch.device(device)
        self.sw_device = None if sw_device is None else torch.device(sw_device)
        self.stitch_device = None if stitch_device is None else torch.device(stitch_device)
        self.amp = amp if isinstance(amp, str) and amp.strip().lower() == AUTO else resolve_amp(amp)
        self.pad_mode = pad_mode
        self.padding_cval = float(padding_cval)
        self.progress = progress
        self.oom_fallback = oom_fallback

    @property
    def spatial_dims(self) -> int:
        """Number of spatial axes of the volumes this translator accepts."""
        return len(self.roi_size)

    def _pad_roi(self) -> tuple[int, ...]:
        """Window extent used to pad short axes (the slice translator never pads its slicing axis)."""
        return self.roi_size

    def _inferer_kwargs(
        self, sw_device: torch.device, stitch_device: torch.device, sw_batch_size: int
    ) -> dict[str, Any]:
        """Arguments shared by MONAI's ``SlidingWindowInferer`` and ``SliceInferer`` (the slice translator's)."""
        return {
            "roi_size": self.roi_size,
            "sw_batch_size": sw_batch_size,
            "overlap": self.overlap,
            "mode": self.mode,
            "sigma_scale": self.sigma_scale,
            "sw_device": sw_device,
            "device": stitch_device,
            "progress": self.progress,
        }

    def _inferer(self, sw_device: torch.device, stitch_device: torch.device, sw_batch_size: int) -> Callable:
        return SlidingWindowInferer(**self._inferer_kwargs(sw_device, stitch_device, sw_batch_size))

    def _devices(self, network: Callable) -> tuple[torch.device, torch.device]:
        net_dev = _network_device(network)
        sw = self.sw_device or self.device or net_dev or torch.device("cpu")
        if net_dev is not None and net_dev.type != sw.type:
            raise ConfigError(None, f"the network is on {net_dev} but windows go to {sw}: move it with network.to()")
        return sw, self.stitch_device or self.device or sw

    def _predictor(
        self, network: Callable, device: torch.device | None = None
    ) -> Callable[[torch.Tensor], torch.Tensor]:
        amp = resolve_amp(self.amp, device)  # "auto" decides on the window device

        def run(x: torch.Tensor) -> torch.Tensor:
            with autocast(x.device, amp):
                y = network(x)
            if not isinstance(y, torch.Tensor):
                raise ConfigError(None, f"the network must return one tensor, it returned {type(y).__name__}")
            if y.shape[0] != x.shape[0] or tuple(y.shape[2:]) != tuple(s * self.output_scale for s in x.shape[2:]):
                raise ConfigError(
                    None,
                    f"the network maps a {tuple(x.shape[2:])} window to {tuple(y.shape[2:])}: choose a roi_size that "
                    "the network keeps (divisible by 2 ** number of downsamplings)",
                )
            y = y.float()
            # MONAI weights the window output in place: never hand it a view of the input or an expanded tensor
            if not y.is_contiguous() or y.untyped_storage().data_ptr() == x.untyped_storage().data_ptr():
                y = y.clone(memory_format=torch.contiguous_format)
            return y

        return run

    def __call__(self, network: Callable, volume: Any, name: str | None = None) -> Any:
        """Translate ``volume``; same as :meth:`translate`."""
        return self.translate(network, volume, name)

    def translate(self, network: Callable, volume: Any, name: str | None = None) -> Any:
        """Translate one volume (or a batch of volumes).

        Args:
            network: a module (or callable) mapping (B, C, *roi) to (B, C', *roi), expecting the values it was
                trained on (normally [-1, 1]).
            volume: (C, *spatial) or (N, C, *spatial) torch tensor, MONAI MetaTensor or numpy array.
            name: the volume's file name, used in error messages.

        Returns:
            The translation with the same layout (batched or not) and kind as ``volume``: numpy in, numpy out; a
            MetaTensor keeps its metadata (affine, spacing), since the geometry is unchanged. Tensors are float32 on
            the stitching device.

        Raises:
            InputError: when the volume does not have the expected number of axes or holds NaN / infinite values.
            ConfigError: on a network/device/window mismatch.
        """
        x, unbatch, kind = self._as_batch(volume, name)
        sw_device, stitch_device = self._devices(network)
        x, pads = pad_to_roi(x, self._pad_roi(), mode=self.pad_mode, cval=self.padding_cval)
        was_training = isinstance(network, nn.Module) and network.training
        if isinstance(network, nn.Module):
            network.eval()
        try:
            with torch.inference_mode():
                y = self._run(network, x, sw_device, stitch_device)
        finally:
            if was_training:
                network.train()
        y = crop_back(y, [(before * self.output_scale, after * self.output_scale) for before, after in pads])
        return self._restore(y, volume, unbatch, kind, self.output_scale)

    def _run(self, network: Callable, x: torch.Tensor, sw_device: torch.device, stitch: torch.device) -> torch.Tensor:
        # Own retry instead of SlidingWindowInfererAdapt: that class adapts only when the whole input volume sits on
        # the GPU and an explicit stitch device disables it; here the volume stays on the host.
        batch = self.sw_batch_size
        predictor = self._predictor(network, sw_device)
        while True:
            try:
                return self._inferer(sw_device, stitch, batch)(x, predictor)
            except _OOM:
                if not self.oom_fallback:
                    raise
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                if stitch.type != "cpu":
                    logger.warning("out of GPU memory while stitching on %s: retrying, stitching on the CPU", stitch)
                    stitch = torch.device("cpu")
                elif batch > 1:
                    batch //= 2
                    logger.warning("out of GPU memory: retrying with sw_batch_size=%d", batch)
                else:
                    raise

    def _as_batch(self, volume: Any, name: str | None) -> tuple[torch.Tensor, bool, str]:
        if isinstance(volume, np.ndarray):
            kind, t = "numpy", torch.from_numpy(np.ascontiguousarray(volume))
        elif isinstance(volume, MetaTensor):
            kind, t = "meta", volume.as_tensor()
        elif isinstance(volume, torch.Tensor):
            kind, t = "tensor", volume
        else:
            raise InputError(name, f"a volume must be a numpy array or a torch tensor, got {type(volume).__name__}")
        sd = self.spatial_dims
        if t.ndim == sd + 1:
            t, unbatch = t[None], True
        elif t.ndim == sd + 2:
            unbatch = False
        else:
            raise InputError(
                name, f"expected (C, {sd} spatial axes) or (N, C, {sd} spatial axes), got shape {tuple(t.shape)}"
            )
        t = t.float() if t.dtype != torch.float32 else t
        if not torch.isfinite(t).all():
            raise InputError(name, "the volume holds NaN or infinite values")
        return t, unbatch, kind

    @staticmethod
    def _restore(y: torch.Tensor, volume: Any, unbatch: bool, kind: str, scale: int = 1) -> Any:
        y = y[0] if unbatch else y
        if kind == "numpy":
            return y.cpu().numpy()
        if kind == "meta":
            meta = dict(volume.meta)
            if scale != 1 and "affine" in meta:  # smaller voxels, same corner (voxel centres shift by half a voxel)
                affine = torch.as_tensor(meta["affine"], dtype=torch.float64).clone()
                nsp, col = min(y.ndim - (1 if unbatch else 2), affine.shape[0] - 1), affine.shape[0] - 1
                half = torch.full((nsp,), (1.0 / scale - 1.0) / 2.0, dtype=torch.float64)
                affine[:, col] = affine[:, col] + affine[:, :nsp] @ half
                affine[:, :nsp] = affine[:, :nsp] / scale
                meta["affine"] = affine
            return MetaTensor(y, meta=meta, applied_operations=list(volume.applied_operations))
        return y


def translate_volume(
    network: Callable,
    volume: Any,
    roi_size: Sequence[int] | int,
    sw_batch_size: int = 4,
    overlap: Sequence[float] | float = 0.25,
    mode: str = "gaussian",
    device: str | torch.device | None = None,
    sw_device: str | torch.device | None = None,
    stitch_device: str | torch.device | None = None,
    amp: str | None = None,
    padding_cval: float = -1.0,
    pad_mode: str = "reflect",
    **kwargs: Any,
) -> Any:
    """Translate a whole volume with overlapping windows (function form of :class:`VolumeTranslator`).

    Args:
        network: the generator.
        volume: (C, *spatial) or (N, C, *spatial) tensor / MetaTensor / numpy array, in the network's value range.
        roi_size: window size per spatial axis.
        sw_batch_size: windows per network call.
        overlap: window overlap fraction.
        mode: "gaussian" or "constant" blending.
        device: window and stitching device.
        sw_device: window device (overrides ``device``).
        stitch_device: stitching device (overrides ``device``); "cpu" saves GPU memory.
        amp: "bf16", "fp16" or None.
        padding_cval: fill value for ``pad_mode="constant"``.
        pad_mode: "reflect", "replicate" or "constant" for axes shorter than the window.
        kwargs: other :class:`VolumeTranslator` arguments (``sigma_scale``, ``progress``, ``oom_fallback``).

    Returns:
        The translated volume, see :meth:`VolumeTranslator.translate`.
    """
    translator = VolumeTranslator(
        roi_size,
        sw_batch_size=sw_batch_size,
        overlap=overlap,
        mode=mode,
        device=device,
        sw_device=sw_device,
        stitch_device=stitch_device,
        amp=amp,
        padding_cval=padding_cval,
        pad_mode=pad_mode,
        **kwargs,
    )
    return translator(network, volume)
