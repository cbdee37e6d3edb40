"""Intensity normalisations with exact inverses: HU window, percentile normalisation, generic range scaling.

Networks see values in [-1, 1]; what goes to disk is in the modality's own units. Each transform here maps an
intensity range ``[a_min, a_max]`` linearly onto ``[b_min, b_max]`` (default [-1, 1]) with MONAI's
:class:`~monai.transforms.ScaleIntensityRange`, and inverts it exactly (values that were clipped come back at the range
limits). The range used is recorded MONAI-style in the MetaTensor's ``applied_operations`` (``extra_info``), so a
data-dependent range (percentiles) can be inverted later, and also returned by :meth:`IntensityScale.params`.

MONAI's ``ScaleIntensityRange`` / ``ScaleIntensityRangePercentiles`` do the forward mapping but are not invertible,
hence these thin invertible wrappers.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import InvertibleTransform, MapTransform, ScaleIntensityRange

from medtranslate.errors import ConfigError, InputError

__all__ = [
    "IntensityScale",
    "ScaleRange",
    "HUWindow",
    "PercentileNormalize",
    "ScaleRanged",
    "HUWindowd",
    "PercentileNormalized",
    "CT_FULL_RANGE",
]

#: HU range of 12-bit CT: air -1024 ... dense bone / metal 3071.
CT_FULL_RANGE: tuple[float, float] = (-1024.0, 3071.0)


def _as_float_tensor(img: Any) -> Any:
    if isinstance(img, np.ndarray):
        return img.astype(np.float32, copy=False)
    if isinstance(img, torch.Tensor) and not img.is_floating_point():
        return img.float()
    return img


class IntensityScale(InvertibleTransform):
    """Base class: linear map ``[a_min, a_max] -> [b_min, b_max]`` with optional clipping, and its inverse.

    Subclasses choose ``[a_min, a_max]`` (fixed, or computed from the image in :meth:`source_range`).

    Args:
        b_min: target value of ``a_min``.
        b_max: target value of ``a_max``.
        clip: clip the result to ``[b_min, b_max]``.
    """

    def __init__(self, b_min: float = -1.0, b_max: float = 1.0, clip: bool = True) -> None:
        if not b_max > b_min:
            raise ConfigError(None, f"the target range must be increasing, got [{b_min}, {b_max}]")
        self.b_min = float(b_min)
        self.b_max = float(b_max)
        self.clip = bool(clip)
        self.last_params: dict[str, float] | None = None

    def source_range(self, img: Any) -> tuple[float, float]:
        """The intensity range ``(a_min, a_max)`` mapped onto ``[b_min, b_max]`` for ``img``.

        Args:
            img: the image being normalised.
        """
        raise NotImplementedError

    def params(self, img: Any) -> dict[str, float]:
        """All four numbers that define the mapping for ``img`` (what :meth:`inverse` needs).

        Args:
            img: the image to normalise.
        """
        a_min, a_max = self.source_range(img)
        if not a_max > a_min:
            raise InputError(
                None, f"cannot normalise a constant image: intensity range [{a_min:g}, {a_max:g}] is empty"
            )
        return {"a_min": float(a_min), "a_max": float(a_max), "b_min": self.b_min, "b_max": self.b_max}

    def __call__(self, img: Any) -> Any:
        """Normalise ``img`` (tensor, MetaTensor or numpy array; any shape).

        Args:
            img: the image in its own units.

        Returns:
            float32 image in ``[b_min, b_max]`` (clipped when ``clip``); a MetaTensor records the mapping.
        """
        p = self.params(img)
        self.last_params = p
        out = ScaleIntensityRange(p["a_min"], p["a_max"], p["b_min"], p["b_max"], clip=self.clip)(_as_float_tensor(img))
        if isinstance(img, np.ndarray):
            return np.asarray(out.detach().cpu() if isinstance(out, torch.Tensor) else out, dtype=np.float32)
        if not isinstance(img, MetaTensor):
            return out.as_tensor() if isinstance(out, MetaTensor) else out
        self.push_transform(out, extra_info=p)
        return out

    @staticmethod
    def apply_inverse(img: Any, params: Mapping[str, float]) -> Any:
        """Map ``[b_min, b_max]`` back onto ``[a_min, a_max]`` with the given parameters.

        Args:
            img: normalised values (tensor, MetaTensor or numpy array).
            params: the mapping, as returned by :meth:`params`.
        """
        scale = (params["a_max"] - params["a_min"]) / (params["b_max"] - params["b_min"])
        return (_as_float_tensor(img) - params["b_min"]) * scale + params["a_min"]

    def fixed_params(self) -> dict[str, float] | None:
        """The mapping when it does not depend on the image (fixed windows), else ``None``."""
        return None

    def inverse(self, data: Any, params: Mapping[str, float] | None = None) -> Any:
        """Undo the normalisation.

        The parameters come from ``params`` when given, else from the MetaTensor's last applied operation when it is
        this transform's, else from the fixed range of the transform (windows). A network output carries no record of
        its own, so a fixed-range transform inverts it directly.

        Args:
            data: normalised image.
            params: explicit mapping (see :meth:`params`).

        Returns:
            The image in its original units (float32). A MetaTensor keeps its metadata.

        Raises:
            ConfigError: when a data-dependent mapping has no recorded parameters.
        """
        if params is None and isinstance(data, MetaTensor) and data.applied_operations:
            last = data.applied_operations[-1]
            if last.get("class") == self.__class__.__name__:
                params = dict(self.pop_transform(data, check=False)["extra_info"])
        if params is None:
            params = self.fixed_params()
        if params is None:
            raise ConfigError(
                None,
                f"{self.__class__.__name__} depends on the image: its inverse needs the recorded range "
                "(a MetaTensor from this transform, or params=...)",
            )
        return self.apply_inverse(data, params)


class ScaleRange(IntensityScale):
    """Generic fixed range scaling, e.g. 8-bit OCT ``[0, 255] -> [-1, 1]``.

    Args:
        a_min: source value mapped to ``b_min``.
        a_max: source value mapped to ``b_max``.
        b_min: target of ``a_min``.
        b_max: target of ``a_max``.
        clip: clip to ``[b_min, b_max]``.

    Raises:
        ConfigError: when ``a_max <= a_min``.
    """

    def __init__(self, a_min: float, a_max: float, b_min: float = -1.0, b_max: float = 1.0, clip: bool = True) -> None:
        super().__init__(b_min, b_max, clip)
        if not float(a_max) > float(a_min):
            raise ConfigError(None, f"the source range must be increasing, got [{a_min}, {a_max}]")
        self.a_min = float(a_min)
        self.a_max = float(a_max)

    def source_range(self, img: Any) -> tuple[float, float]:
        """The fixed range.

        Args:
            img: unused.
        """
        return self.a_min, self.a_max

    def fixed_params(self) -> dict[str, float]:
        """The fixed mapping."""
        return {"a_min": self.a_min, "a_max": self.a_max, "b_min": self.b_min, "b_max": self.b_max}


class HUWindow(ScaleRange):
    """CT window in Hounsfield units onto [-1, 1]; the inverse returns HU.

    Args:
        window: ``(low, high)`` in HU; values outside are clipped and come back at the window limits.
        center: window centre in HU (with ``width``, instead of ``window``).
        width: window width in HU.
        b_min: target of ``low``.
        b_max: target of ``high``.
        clip: clip to the window.

    Raises:
        ConfigError: on an empty window or when both forms are given.
    """

    def __init__(
        self,
        window: Sequence[float] | None = None,
        center: float | None = None,
        width: float | None = None,
        b_min: float = -1.0,
        b_max: float = 1.0,
        clip: bool = True,
    ) -> None:
        if window is not None and (center is not None or width is not None):
            raise ConfigError(None, "give the HU window either as (low, high) or as center and width, not both")
        if window is None:
            if center is None or width is None:
                window = CT_FULL_RANGE
            else:
                if float(width) <= 0:
                    raise ConfigError(None, f"the HU window width must be positive, got {width}")
                window = (float(center) - float(width) / 2, float(center) + float(width) / 2)
        window = [float(w) for w in window]
        if len(window) != 2:
            raise ConfigError(None, f"an HU window is (low, high), got {window}")
        super().__init__(window[0], window[1], b_min, b_max, clip)


class PercentileNormalize(IntensityScale):
    """MR normalisation: the ``lower`` .. ``upper`` percentiles of the image onto [-1, 1].

    The percentiles used are recorded in the MetaTensor (``applied_operations[-1]["extra_info"]``) and in
    :attr:`last_params`, so the normalisation inverts exactly. A translated MR (a network output) has no percentiles
    of its own and stays in the normalised range.

    Args:
        lower: lower percentile in [0, 100).
        upper: upper percentile in (lower, 100].
        b_min: target of the lower percentile.
        b_max: target of the upper percentile.
        clip: clip to ``[b_min, b_max]``.
        nonzero: compute the percentiles over non-zero voxels only (ignores zero-filled background).

    Raises:
        ConfigError: on invalid percentiles.
    """

    def __init__(
        self,
        lower: float = 1.0,
        upper: float = 99.0,
        b_min: float = -1.0,
        b_max: float = 1.0,
        clip: bool = True,
        nonzero: bool = False,
    ) -> None:
        super().__init__(b_min, b_max, clip)
        if not 0.0 <= float(lower) < float(upper) <= 100.0:
            raise ConfigError(None, f"percentiles must satisfy 0 <= lower < upper <= 100, got {lower}, {upper}")
        self.lower = float(lower)
        self.upper = float(upper)
        self.nonzero = bool(nonzero)

    def source_range(self, img: Any) -> tuple[float, float]:
        """The two percentiles of ``img``.

        Args:
            img: the image.
        """
        arr = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
        arr = arr.astype(np.float64, copy=False).ravel()
        arr = arr[np.isfinite(arr)]
        if self.nonzero:
            arr = arr[arr != 0]
        if arr.size == 0:
            raise InputError(None, "cannot normalise an image without finite (non-zero) values")
        lo, hi = np.percentile(arr, [self.lower, self.upper])
        if not hi > lo:  # a mostly constant image: fall back to the full range
            lo, hi = float(arr.min()), float(arr.max())
        return float(lo), float(hi)


class _IntensityScaled(MapTransform, InvertibleTransform):
    """Dictionary wrapper around an :class:`IntensityScale`."""

    scaler: IntensityScale

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        """Normalise every key.

        Args:
            data: the data dictionary.
        """
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.scaler(d[key])
        return d

    def inverse(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        """Undo the normalisation of every key.

        Args:
            data: the data dictionary.
        """
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.scaler.inverse(d[key])
        return d


class ScaleRanged(_IntensityScaled):
    """Dictionary version of :class:`ScaleRange`.

    Args:
        keys: keys to transform.
        a_min: source value mapped to ``b_min``.
        a_max: source value mapped to ``b_max``.
        b_min: target of ``a_min``.
        b_max: target of ``a_max``.
        clip: clip to ``[b_min, b_max]``.
        allow_missing_keys: skip missing keys.
    """

    def __init__(
        self,
        keys: KeysCollection,
        a_min: float,
        a_max: float,
        b_min: float = -1.0,
        b_max: float = 1.0,
        clip: bool = True,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.scaler = ScaleRange(a_min, a_max, b_min, b_max, clip)


class HUWindowd(_IntensityScaled):
    """Dictionary version of :class:`HUWindow`.

    Args:
        keys: keys to transform.
        window: ``(low, high)`` in HU.
        center: window centre (with ``width``).
        width: window width.
        b_min: target of ``low``.
        b_max: target of ``high``.
        clip: clip to the window.
        allow_missing_keys: skip missing keys.
    """

    def __init__(
        self,
        keys: KeysCollection,
        window: Sequence[float] | None = None,
        center: float | None = None,
        width: float | None = None,
        b_min: float = -1.0,
        b_max: float = 1.0,
        clip: bool = True,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.scaler = HUWindow(window, center, width, b_min, b_max, clip)


class PercentileNormalized(_IntensityScaled):
    """Dictionary version of :class:`PercentileNormalize`.

    Args:
        keys: keys to transform.
        lower: lower percentile.
        upper: upper percentile.
        b_min: target of the lower percentile.
        b_max: target of the upper percentile.
        clip: clip to ``[b_min, b_max]``.
        nonzero: percentiles over non-zero voxels only.
        allow_missing_keys: skip missing keys.
    """

    def __init__(
        self,
        keys: KeysCollection,
        lower: float = 1.0,
        upper: float = 99.0,
        b_min: float = -1.0,
        b_max: float = 1.0,
        clip: bool = True,
        nonzero: bool = False,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.scaler = PercentileNormalize(lower, upper, b_min, b_max, clip, nonzero)
