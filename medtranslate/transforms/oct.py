"""OCT / confocal stack transforms of the OCT2Confocal bundle (seed 000): input checks, depth axis, ILM-IPL slab.

The network sees every stack as ``(C, depth, H, W)``: the depth axis (OCT A-scan axis or confocal z) first, the
en-face plane last. Files store depth on different axes (the sample OCT NIfTI on spatial axis 0, a confocal TIFF
z-stack on spatial axis 2), so :func:`depth_first_indices` gives the permutation for MONAI's ``Transposed``.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from monai.config import KeysCollection
from monai.transforms import MapTransform, SpatialCrop

from medtranslate.errors import InputError

__all__ = [
    "depth_first_indices",
    "check_stack",
    "CheckStackd",
    "select_depth_range",
    "DepthRanged",
    "SelectDepthRange",
    "OCTStackCheck",
]


def depth_first_indices(depth_axis: int, spatial_dims: int = 3) -> list[int]:
    """Permutation of a channel-first array that moves spatial axis ``depth_axis`` first (for MONAI ``Transpose``).

    Args:
        depth_axis: the depth axis among the spatial axes (0-based; negative counts from the end).
        spatial_dims: number of spatial axes.

    Returns:
        Indices ``[0, 1 + depth_axis, the other spatial axes in order]``.

    Raises:
        ValueError: when ``depth_axis`` is not a spatial axis.
    """
    if not -spatial_dims <= depth_axis < spatial_dims:
        raise ValueError(f"depth_axis {depth_axis} is not one of the {spatial_dims} spatial axes")
    axis = depth_axis % spatial_dims
    return [0, 1 + axis] + [1 + i for i in range(spatial_dims) if i != axis]


def _source(image: Any, fallback: str | None = None) -> str | None:
    meta = getattr(image, "meta", None)
    name = meta.get("filename_or_obj") if isinstance(meta, Mapping) else None
    return str(name) if name else fallback


def check_stack(
    image: Any,
    *,
    channels: int | Sequence[int] | None = None,
    min_depth: int = 2,
    depth_axis: int = 0,
    modality: str = "image",
    path: str | None = None,
    hint: str = "",
) -> None:
    """Refuse an image that is not a usable ``(C, D, H, W)`` stack, naming the file and the problem.

    Args:
        image: channel-first array or tensor (a MONAI ``MetaTensor`` names its file in ``meta``).
        channels: the allowed channel count(s) (OCT: 1, confocal: 3), or ``None`` for any.
        min_depth: fewest slices along the depth axis (2 = any stack; the training slab depth when training).
        depth_axis: the depth axis among the spatial axes.
        modality: what the stack is, for the message ("OCT", "confocal").
        path: the file, when ``image`` does not carry it.
        hint: appended to the "too shallow" message (what to do about it).

    Raises:
        InputError: for a 2D image, the wrong channel count or too few slices.
    """
    where = _source(image, path)
    shape = tuple(int(s) for s in image.shape)
    if len(shape) != 4:
        got = "a 2D image" if len(shape) == 3 else f"an array of shape {shape}"
        raise InputError(where, f"{modality}: expected a 3D stack (channels, depth, height, width), got {got}")
    allowed = None if channels is None else ([channels] if isinstance(channels, int) else list(channels))
    if allowed is not None and shape[0] not in allowed:
        want = " or ".join(str(c) for c in allowed)
        extra = " (convert RGB OCT exports to grayscale)" if modality == "OCT" and shape[0] == 3 else ""
        extra = extra or (" (an RGB z-stack is expected)" if modality == "confocal" else "")
        raise InputError(where, f"{modality}: {shape[0]} channel(s), expected {want}{extra}")
    depth = shape[1 + depth_axis % 3]
    if depth < 2:
        raise InputError(where, f"{modality}: a single slice is a 2D image, a stack is expected (shape {shape[1:]})")
    if depth < min_depth:
        msg = f"{modality}: stack of {depth} slices is shallower than the {min_depth} needed"
        raise InputError(where, msg + (f"; {hint}" if hint else ""))


class CheckStackd(MapTransform):
    """Dict version of :func:`check_stack`: validates ``data[key]`` and returns the data unchanged.

    Args:
        keys: keys of the images to check.
        channels: allowed channel count(s).
        min_depth: fewest slices along ``depth_axis``.
        depth_axis: the depth axis among the spatial axes (after any transposition that ran before).
        modality: what the stack is, for messages.
        hint: appended to the "too shallow" message.
        allow_missing_keys: skip missing keys.
    """

    def __init__(
        self,
        keys: KeysCollection,
        channels: int | Sequence[int] | None = None,
        min_depth: int = 2,
        depth_axis: int = 0,
        modality: str = "image",
        hint: str = "",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.channels, self.min_depth, self.depth_axis = channels, int(min_depth), int(depth_axis)
        self.modality, self.hint = modality, hint

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        """Check every key.

        Args:
            data: the item.

        Returns:
            The item, unchanged.

        Raises:
            InputError: from :func:`check_stack`.
        """
        d = dict(data)
        for key in self.key_iterator(d):
            check_stack(
                d[key],
                channels=self.channels,
                min_depth=self.min_depth,
                depth_axis=self.depth_axis,
                modality=self.modality,
                hint=self.hint,
            )
        return d


def select_depth_range(image: Any, depth_range: Sequence[int] | None, depth_axis: int = 0, path: str | None = None):
    """Crop the slab ``[start, stop)`` along the depth axis (e.g. ILM to IPL), keeping the geometry.

    Uses MONAI's ``SpatialCrop``, so a ``MetaTensor``'s affine is moved to the slab's first slice.

    Args:
        image: channel-first ``(C, *spatial)`` image.
        depth_range: ``(start, stop)`` slice indices (Python slice rules, stop excluded; negative counts from the
            end; ``None`` for either end means the edge), or ``None`` for the whole stack.
        depth_axis: the depth axis among the spatial axes.
        path: the file, for messages when ``image`` does not carry it.

    Returns:
        The slab (the input itself when ``depth_range`` is ``None``).

    Raises:
        InputError: when the range is malformed or selects no slice of this stack.
    """
    if depth_range is None:
        return image
    where = _source(image, path)
    if isinstance(depth_range, (str, bytes)) or len(depth_range) != 2:
        raise InputError(where, f"depth_range must be [start, stop], got {depth_range!r}")
    spatial = [int(s) for s in image.shape[1:]]
    axis = depth_axis % len(spatial)
    depth = spatial[axis]
    start, stop, _ = slice(*(None if v is None else int(v) for v in depth_range)).indices(depth)
    if stop - start < 1:
        raise InputError(where, f"depth_range {list(depth_range)} selects no slice of a stack {depth} slices deep")
    roi_start = [0] * len(spatial)
    roi_end = list(spatial)
    roi_start[axis], roi_end[axis] = start, stop
    return SpatialCrop(roi_start=roi_start, roi_end=roi_end)(image)


class DepthRanged(MapTransform):
    """Dict version of :func:`select_depth_range`: a default range, or a per-item one from ``range_key``.

    A datalist item may carry its own ILM-IPL range (``{"image": "oct/eye1.nii.gz", "depth_range": [212, 248]}``);
    it wins over ``depth_range``.

    Args:
        keys: keys of the images to crop.
        depth_range: default ``(start, stop)``, or ``None`` for whole stacks.
        depth_axis: the depth axis among the spatial axes.
        range_key: item key holding a per-item range (ignored when absent).
        allow_missing_keys: skip missing keys.
    """

    def __init__(
        self,
        keys: KeysCollection,
        depth_range: Sequence[int] | None = None,
        depth_axis: int = 0,
        range_key: str | None = "depth_range",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.depth_range = None if depth_range is None else list(depth_range)
        self.depth_axis, self.range_key = int(depth_axis), range_key

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        """Crop every key.

        Args:
            data: the item.

        Returns:
            The item with the slabs.

        Raises:
            InputError: from :func:`select_depth_range`.
        """
        d = dict(data)
        rng = d.get(self.range_key, self.depth_range) if self.range_key else self.depth_range
        for key in self.key_iterator(d):
            d[key] = select_depth_range(d[key], rng, self.depth_axis)
        return d


class SelectDepthRange:
    """Array version of :func:`select_depth_range`, for an inference ``input_transform``.

    Args:
        depth_range: ``(start, stop)`` slice indices, or ``None`` for the whole stack.
        depth_axis: the depth axis among the spatial axes.
    """

    def __init__(self, depth_range: Sequence[int] | None = None, depth_axis: int = 0) -> None:
        self.depth_range = None if depth_range is None else list(depth_range)
        self.depth_axis = int(depth_axis)

    def __call__(self, image: Any) -> Any:
        """Crop the slab.

        Args:
            image: channel-first image.

        Returns:
            The slab (geometry kept).
        """
        return select_depth_range(image, self.depth_range, self.depth_axis)


class OCTStackCheck:
    """Inference input check, ``check(image, name) -> warnings`` (the TranslationWorkflow protocol).

    Refuses 2D images and single slices ("a stack is expected"), and OCT with other than ``channels`` channels (an
    RGB export). A stack shallower than the window's ``window_depth`` is accepted: the inferer pads it by
    reflection to the window and crops the result back, and a warning says so.

    Args:
        channels: the channel count of the network's input (OCT: 1).
        depth_axis: the depth axis among the spatial axes of the file.
        window_depth: depth of the network's window (seed 000: 9).
        modality: name used in messages.
    """

    def __init__(self, channels: int = 1, depth_axis: int = 0, window_depth: int = 9, modality: str = "OCT") -> None:
        self.channels, self.depth_axis, self.window_depth, self.modality = channels, depth_axis, window_depth, modality

    def __call__(self, image: Any, name: str | None = None) -> list[str]:
        """Check one input.

        Args:
            image: the loaded image, channel first.
            name: the file, for messages.

        Returns:
            Warnings (a shallow stack).

        Raises:
            InputError: for a 2D image, a single slice, or the wrong channel count.
        """
        where = name or _source(image)
        check_stack(image, channels=self.channels, depth_axis=self.depth_axis, modality=self.modality, path=where)
        depth = int(image.shape[1 + self.depth_axis % 3])
        if depth < self.window_depth:
            return [
                f"{where}: {self.modality} stack of {depth} slices is shallower than the {self.window_depth}-slice "
                "window; it is padded by reflection and the output cropped back to its depth"
            ]
        return []
