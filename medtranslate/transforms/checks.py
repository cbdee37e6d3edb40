"""Input checks run before translation: shape, channels, and what the modality must look like.

A check is called as ``check(image, name) -> list[str]``: it raises :class:`~medtranslate.errors.InputError` (naming
the file) when the input cannot be translated, and returns warnings for inputs that can be translated but look
wrong (an MR series given where CT is expected). :class:`~medtranslate.workflows.TranslationWorkflow` logs the
warnings and records them in its report.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from medtranslate.errors import ConfigError, InputError

__all__ = ["VolumeCheck", "ModalityCheck", "UpscaleCheck", "VesselMapCheck", "dicom_modality"]

_CT_AIR_BELOW = -500.0  # a CT of a head or body always holds air (-1000 HU); MR and unscaled CT never go this low


def dicom_modality(image: Any) -> str | None:
    """The DICOM Modality of a loaded image (``meta["mt_dicom"]["Modality"]``), or ``None`` when not DICOM.

    Args:
        image: a MetaTensor from :func:`medtranslate.io.load_image`.
    """
    meta = getattr(image, "meta", None) or {}
    tags = meta.get("mt_dicom") or {}
    value = tags.get("Modality") if isinstance(tags, dict) else None
    return str(value).strip().upper() or None if value is not None else None


def _value_range(image: Any) -> tuple[float, float]:
    t = image.as_tensor() if hasattr(image, "as_tensor") else image
    if isinstance(t, torch.Tensor):
        t = t.detach()
        if not t.is_floating_point():
            return float(t.min()), float(t.max())
        finite = t[torch.isfinite(t)]
        return (float(finite.min()), float(finite.max())) if finite.numel() else (math.nan, math.nan)
    arr = np.asarray(t)
    arr = arr[np.isfinite(arr)] if arr.dtype.kind == "f" else arr
    return (float(arr.min()), float(arr.max())) if arr.size else (math.nan, math.nan)


class VolumeCheck:
    """Shape checks: channel count, number of spatial axes, and a minimum size.

    Args:
        channels: the channel count the network takes (``None``: any).
        spatial_dims: accepted numbers of spatial axes, e.g. ``(2, 3)`` for a slice-wise 2D network (a 2D image is
            one slice) or ``(3,)`` for a 3D network.
        min_size: smallest accepted size of every spatial axis (in-plane axes smaller than this cannot be resized
            meaningfully).
        slice_axis: the spatial axis slices are taken along, checked against ``min_slices``.
        min_slices: smallest accepted number of slices along ``slice_axis``.

    Raises:
        ConfigError: on invalid settings.
    """

    def __init__(
        self,
        channels: int | None = 1,
        spatial_dims: Sequence[int] = (2, 3),
        min_size: int = 4,
        slice_axis: int | None = None,
        min_slices: int = 1,
    ) -> None:
        self.channels = None if channels is None else int(channels)
        self.spatial_dims = tuple(int(d) for d in spatial_dims)
        if not self.spatial_dims or any(d not in (2, 3) for d in self.spatial_dims):
            raise ConfigError(None, f"spatial_dims must list 2 and/or 3, got {list(spatial_dims)}")
        self.min_size = int(min_size)
        self.slice_axis = slice_axis
        self.min_slices = int(min_slices)

    def __call__(self, image: Any, name: str | None = None) -> list[str]:
        """Check ``image`` (channel first).

        Args:
            image: ``(C, *spatial)`` tensor or MetaTensor.
            name: the file, for the error message.

        Returns:
            Warnings (none from this class).

        Raises:
            InputError: when the image cannot be translated.
        """
        shape = tuple(int(s) for s in image.shape)
        nsp = len(shape) - 1
        if nsp > 3:
            raise InputError(
                name, f"is {nsp}D (shape {shape[1:]}, {shape[0]} channel(s)); translate one 3D volume at a time"
            )
        if nsp not in self.spatial_dims:
            want = " or ".join(f"{d}D" for d in self.spatial_dims)
            raise InputError(name, f"is {nsp}D (shape {shape[1:]}), this network translates {want} images")
        if self.channels is not None and shape[0] != self.channels:
            extra = " (a 4D series or a colour image?)" if shape[0] > self.channels else ""
            raise InputError(
                name, f"has {shape[0]} channels{extra}, the network takes {self.channels}; give one volume per file"
            )
        if self.slice_axis is not None and nsp == 3:
            n = shape[1 + self.slice_axis]
            if n < self.min_slices:
                raise InputError(
                    name,
                    f"has {n} slice(s) along slice axis {self.slice_axis} (shape {shape[1:]}); "
                    f"at least {self.min_slices} needed",
                )
        small = [s for i, s in enumerate(shape[1:]) if s < self.min_size and (nsp == 2 or i != self.slice_axis)]
        if small:
            raise InputError(
                name,
                f"is too small to translate (shape {shape[1:]}; every image axis needs at least "
                f"{self.min_size} voxels)",
            )
        return []


class ModalityCheck(VolumeCheck):
    """Shape checks plus what CT or MR input must look like.

    For ``expected="CT"``: a DICOM CT series without RescaleSlope / RescaleIntercept is refused (its stored values
    are not Hounsfield units); a DICOM series of another modality (MR, PT, ...) is translated with a warning; a
    non-DICOM image whose values never reach air (nothing below -500) gets a warning that it does not look like HU.
    For ``expected="MR"``: a DICOM CT series, or a non-DICOM image with values below -500 (HU of air), gets a warning.

    Args:
        expected: "CT" or "MR".
        require_hu_tags: refuse DICOM CT without rescale tags (default ``True``).
        kwargs: :class:`VolumeCheck` arguments.

    Raises:
        ConfigError: when ``expected`` is not CT or MR.
    """

    def __init__(self, expected: str, require_hu_tags: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.expected = str(expected).upper()
        if self.expected not in ("CT", "MR"):
            raise ConfigError(None, f"expected modality must be CT or MR, got {expected!r}")
        self.require_hu_tags = bool(require_hu_tags)

    def __call__(self, image: Any, name: str | None = None) -> list[str]:
        """Check ``image``; see the class docstring.

        Args:
            image: a MetaTensor from :func:`medtranslate.io.load_image` (or a tensor).
            name: the file, for messages.

        Returns:
            Warnings about a doubtful modality.

        Raises:
            InputError: on a wrong shape, or a CT series without HU rescale tags.
        """
        warnings = super().__call__(image, name)
        where = f"{name}: " if name else ""
        modality = dicom_modality(image)
        meta = getattr(image, "meta", None) or {}
        is_dicom = meta.get("mt_format") == "dicom" or modality is not None
        if modality is not None and modality != self.expected:
            warnings.append(
                f"{where}is a DICOM {modality} series (Modality tag) but this direction expects {self.expected}; "
                "translating it anyway, check the direction"
            )
            return warnings
        lo, hi = _value_range(image)
        if self.expected == "CT":
            tags = meta.get("mt_dicom") or {}
            if is_dicom and self.require_hu_tags and "RescaleIntercept" not in tags:
                raise InputError(
                    name,
                    "is a CT series without RescaleSlope/RescaleIntercept tags, so its values are not Hounsfield "
                    "units; add the rescale tags (or convert it to HU NIfTI) before translating",
                )
            if not is_dicom and lo > _CT_AIR_BELOW:
                warnings.append(
                    f"{where}values {lo:g}..{hi:g} do not look like Hounsfield units (no air below "
                    f"{_CT_AIR_BELOW:g}); the CT window assumes HU"
                )
        elif not is_dicom and lo < _CT_AIR_BELOW:
            warnings.append(
                f"{where}values reach {lo:g}, which looks like CT in Hounsfield units, not MR; check the direction"
            )
        return warnings


class UpscaleCheck(VolumeCheck):
    """Input of a super-resolution network: the channel count (RGB for fundus photographs) and an output size limit.

    Args:
        channels: channels the network takes (3: RGB).
        scale: the network's upscaling factor.
        max_output_size: largest accepted output side in pixels (the result of a 4000-pixel photograph x 2 would
            need gigabytes); ``None`` or 0 for no limit.
        kwargs: other :class:`VolumeCheck` arguments.
    """

    def __init__(self, channels: int = 3, scale: int = 2, max_output_size: int | None = 4096, **kwargs: Any) -> None:
        kwargs.setdefault("spatial_dims", (2,))
        super().__init__(channels=channels, **kwargs)
        self.scale = int(scale)
        self.max_output_size = int(max_output_size) if max_output_size else None

    def __call__(self, image: Any, name: str | None = None) -> list[str]:
        """Check ``image`` (channel first).

        Args:
            image: ``(C, H, W)``.
            name: the file, for the error message.

        Raises:
            InputError: for another channel count (e.g. a grayscale image where RGB is needed) or a too large result.
        """
        if self.channels == 3 and int(image.shape[0]) != 3 and len(image.shape) == 3:
            raise InputError(name, f"is not an RGB image ({int(image.shape[0])} channel(s)); the upscaler takes RGB")
        warnings = super().__call__(image, name)
        out = [int(s) * self.scale for s in image.shape[1:]]
        if self.max_output_size and max(out) > self.max_output_size:
            raise InputError(
                name,
                f"upscaling x{self.scale} would give {' x '.join(map(str, out))} pixels, above the limit of "
                f"{self.max_output_size} per side (set max_output_size to allow it)",
            )
        return warnings


class VesselMapCheck(VolumeCheck):
    """A binary, single-channel vessel map (the input of the vessel -> fundus generator and of the VAE).

    Args:
        kwargs: :class:`VolumeCheck` arguments (``channels`` is 1).
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("spatial_dims", (2,))
        kwargs["channels"] = 1
        super().__init__(**kwargs)

    def __call__(self, image: Any, name: str | None = None) -> list[str]:
        """Check ``image`` (channel first).

        Args:
            image: ``(1, H, W)`` with two values at most (0 and 1, or 0 and 255).
            name: the file, for the error message.

        Raises:
            InputError: for several channels or more than two distinct values.
        """
        if len(image.shape) == 3 and int(image.shape[0]) != 1:
            raise InputError(name, f"is not a single-channel vessel map ({int(image.shape[0])} channels)")
        warnings = super().__call__(image, name)
        values = torch.unique(torch.as_tensor(np.asarray(image)))
        if values.numel() > 2:
            raise InputError(
                name, f"is not a binary vessel map ({values.numel()} distinct values; expected background and vessel)"
            )
        return warnings


class ColourPhotoCheck(VolumeCheck):
    """Checks that an input is a colour (RGB or RGBA) 2D photograph, e.g. a fundus photograph for fundus2oct.

    A one-channel image, or an RGB image whose three channels are identical (a grey picture saved as RGB), is refused
    with one line saying it is greyscale; so is a 3D volume.

    Args:
        what: what the photograph should be, for the message (``"fundus photograph"``).
        min_size: smallest accepted size of both axes.
    """

    def __init__(self, what: str = "colour photograph", min_size: int = 16) -> None:
        super().__init__(channels=None, spatial_dims=(2,), min_size=min_size)
        self.what = what

    def __call__(self, image: Any, name: str | None = None) -> list[str]:
        """Check ``image`` (channel first).

        Args:
            image: ``(C, H, W)`` tensor or MetaTensor.
            name: the file, for the error message.

        Returns:
            Warnings (none).

        Raises:
            InputError: for a greyscale, 3D or too small image.
        """
        super().__call__(image, name)
        c = int(image.shape[0])
        grey = c in (1, 2) or (c >= 3 and bool((image[0] == image[1]).all() and (image[1] == image[2]).all()))
        if grey:
            raise InputError(name, f"is a greyscale image; a colour (RGB) {self.what} is needed")
        if c not in (3, 4):
            raise InputError(name, f"has {c} channels; a colour (RGB) {self.what} has 3 (4 with alpha)")
        return []
