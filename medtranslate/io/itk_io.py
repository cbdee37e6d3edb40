"""NRRD and MetaImage (``.mha``/``.mhd``, ``.nrrd``/``.nhdr``) through MONAI's ITKReader / ITKWriter backend."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from monai.data import ITKReader, ITKWriter, MetaTensor
from monai.utils import optional_import

from medtranslate.errors import InputError, OutputError
from medtranslate.io.validate import to_metatensor
from medtranslate.utils.atomic import atomic_path

__all__ = ["load_itk", "save_itk"]

itk, _ = optional_import("itk")


def load_itk(path: Path, fmt: str) -> MetaTensor:
    """Read an NRRD or MetaImage file as a channel-first MetaTensor (ITK's LPS geometry converted to RAS).

    Args:
        path: the file.
        fmt: ``"nrrd"`` or ``"mha"`` (stored as ``meta["mt_format"]``).

    Raises:
        InputError: unreadable file, or more than 3 spatial dimensions.
    """
    reader = ITKReader()
    try:
        data, meta = reader.get_data(reader.read(os.fspath(path)))
        data = np.array(data)
    except Exception as e:  # noqa: BLE001 - ITK raises RuntimeError with multi-line text for every failure
        reason = " ".join(str(e).split())
        reason = reason.rsplit("Description:", 1)[-1].strip()[:200] or type(e).__name__
        raise InputError(path, f"cannot be read as {fmt.upper()} ({reason})") from e
    spatial = len(meta["spatial_shape"])
    if spatial > 3:
        raise InputError(path, f"has {spatial} spatial dimensions (shape {data.shape}); only 2D/3D are supported")
    channel_last = not np.isnan(float(meta.get("original_channel_dim", float("nan"))))
    data = np.moveaxis(data, -1, 0) if channel_last else data[None]
    return to_metatensor(data, np.asarray(meta["affine"]), path, fmt, None)


def save_itk(array: np.ndarray, affine: np.ndarray, path: Path) -> Path:
    """Write a channel-first array as NRRD/MetaImage (the suffix picks), compressed, several channels as vectors.

    Args:
        array: ``(C, X, Y[, Z])`` in the dtype to store.
        affine: 4x4 voxel -> RAS mm (a 2D image keeps the in-plane part).
        path: destination; written atomically.

    Returns:
        The final path.
    """
    channels = array.shape[0]
    data = np.moveaxis(array, 0, -1) if channels > 1 else array[0]
    try:
        obj = ITKWriter.create_backend_obj(
            data, channel_dim=-1 if channels > 1 else None, affine=affine, dtype=array.dtype, affine_lps_to_ras=True
        )
    except itk.TemplateTypeError as e:  # ITK's Python wrapping holds only some pixel types (not uint32 vectors)
        raise OutputError(
            path,
            f"ITK cannot write {channels}-channel {array.dtype} images as {path.suffix or 'NRRD/MHA'}; "
            "convert to NIfTI or TIFF instead",
        ) from e
    with atomic_path(path) as tmp:
        itk.imwrite(obj, os.fspath(tmp), compression=True)
    return Path(path)
