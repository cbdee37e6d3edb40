"""Multi-frame DICOM: one :class:`~medtranslate.io.dicom_series.Plane` per frame.

Enhanced objects (Enhanced CT/MR/PET, ...) keep each frame's geometry and rescale in the functional groups:
PlanePositionSequence, PlaneOrientationSequence, PixelMeasuresSequence and PixelValueTransformationSequence, per frame
(PerFrameFunctionalGroupsSequence) or shared by all (SharedFunctionalGroupsSequence). Older multi-frame objects (RT
Dose) give a start position plus GridFrameOffsetVector. MONAI's PydicomReader reads none of these (it warns and uses
an identity affine), hence this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from medtranslate.io.dicom_series import Plane, floats, pixel_spacing

__all__ = ["is_multiframe", "frame_planes", "group_value", "dose_scaling"]


def is_multiframe(ds: Any) -> bool:
    """Whether a dataset holds several frames or frame functional groups.

    Args:
        ds: a pydicom Dataset.
    """
    try:
        frames = int(ds.get("NumberOfFrames", 1) or 1)
    except (TypeError, ValueError):
        frames = 1
    return frames > 1 or "PerFrameFunctionalGroupsSequence" in ds or "SharedFunctionalGroupsSequence" in ds


def group_value(ds: Any, frame: int, sequence: str, attribute: str) -> Any:
    """An attribute from a frame's functional group, else from the shared group.

    Args:
        ds: a pydicom Dataset.
        frame: the frame index.
        sequence: the functional group macro (``"PlanePositionSequence"``, ...).
        attribute: the attribute inside it.

    Returns:
        The value, or ``None`` when neither group holds it.
    """
    for groups_name in ("PerFrameFunctionalGroupsSequence", "SharedFunctionalGroupsSequence"):
        groups = ds.get(groups_name)
        if not groups:
            continue
        item = groups[frame] if groups_name.startswith("PerFrame") and frame < len(groups) else groups[0]
        seq = item.get(sequence)
        if seq and attribute in seq[0]:
            return seq[0].get(attribute)
    return None


def dose_scaling(ds: Any) -> float | None:
    """RT Dose's DoseGridScaling (stored value x scaling = dose in DoseUnits, usually Gy), when it is the rescale.

    Args:
        ds: a pydicom Dataset.

    Returns:
        The scaling factor, or ``None`` when the dataset has none (or a RescaleSlope or Modality LUT of its own).
    """
    if "RescaleSlope" in ds or ds.get("ModalityLUTSequence"):
        return None
    scaling = _number(ds.get("DoseGridScaling"))
    return scaling if scaling is not None and scaling > 0 else None


def _number(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) else None


def frame_planes(ds: Any, path: Path) -> list[Plane]:
    """Describe every frame of a multi-frame dataset.

    Args:
        ds: a pydicom Dataset with NumberOfFrames >= 1 (enhanced or legacy multi-frame).
        path: the file it was read from.

    Returns:
        One Plane per frame, in stored frame order; geometry fields are ``None`` where the file has none.
    """
    n = int(ds.get("NumberOfFrames", 1) or 1)
    rows, cols = int(ds.Rows), int(ds.Columns)
    sop = str(ds.get("SOPInstanceUID", ""))
    top_slope = _number(ds.get("RescaleSlope"))
    top_intercept = _number(ds.get("RescaleIntercept"))
    if ds.get("ModalityLUTSequence"):  # the LUT replaces the rescale (applied when decoding)
        top_slope = top_intercept = None
    elif top_slope is None:
        top_slope = dose_scaling(ds)
    top_spacing = pixel_spacing(ds.get("PixelSpacing"))
    top_orientation = floats(ds.get("ImageOrientationPatient"), 6)
    top_position = floats(ds.get("ImagePositionPatient"), 3)
    offsets = ds.get("GridFrameOffsetVector")
    offsets = floats(offsets, n) if offsets is not None else None
    top_thickness = _number(ds.get("SpacingBetweenSlices")) or _number(ds.get("SliceThickness"))
    planes = []
    for f in range(n):
        position = floats(group_value(ds, f, "PlanePositionSequence", "ImagePositionPatient"), 3)
        orientation = floats(group_value(ds, f, "PlaneOrientationSequence", "ImageOrientationPatient"), 6)
        spacing = pixel_spacing(group_value(ds, f, "PixelMeasuresSequence", "PixelSpacing"))
        thickness = _number(group_value(ds, f, "PixelMeasuresSequence", "SpacingBetweenSlices")) or _number(
            group_value(ds, f, "PixelMeasuresSequence", "SliceThickness")
        )
        slope = _number(group_value(ds, f, "PixelValueTransformationSequence", "RescaleSlope"))
        intercept = _number(group_value(ds, f, "PixelValueTransformationSequence", "RescaleIntercept"))
        orientation = orientation if orientation is not None else top_orientation
        if position is None and top_position is not None and orientation is not None:
            # legacy multi-frame (RT Dose): frames at offsets along the normal from the first frame's position
            if offsets is not None:
                normal = np.cross(orientation[:3], orientation[3:])
                position = top_position + offsets[f] * normal
            elif n == 1:
                position = top_position
        planes.append(
            Plane(
                path=path,
                frame=f,
                rows=rows,
                cols=cols,
                position=position,
                orientation=orientation,
                pixel_spacing=spacing if spacing is not None else top_spacing,
                thickness=thickness or top_thickness,
                slope=slope if slope is not None else (top_slope if top_slope is not None else 1.0),
                intercept=intercept if intercept is not None else (top_intercept or 0.0),
                sop_uid=sop,
            )
        )
    return planes
