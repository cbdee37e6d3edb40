"""Write a volume as a *derived* DICOM series: one single-frame instance per slice, in a new folder.

Every output is DERIVED\\SECONDARY with new Series/SOP UIDs, keeps the patient/study identity of its source (unless
anonymised), references the source series, and says in SeriesDescription/DerivationDescription what made it.
Grayscale is stored in 16 bits with RescaleSlope/Intercept chosen so values round-trip within the quantisation step;
colour as 8-bit RGB. CT and MR outputs use the CT/MR Image IODs, anything else Secondary Capture.
MONAI has no DICOM writer, hence pydicom.
"""

from __future__ import annotations

import datetime
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from medtranslate import __version__
from medtranslate.errors import OutputError
from medtranslate.io.dicom_series import LPS_TO_RAS
from medtranslate.io.quantize import ds_str, quantize16
from medtranslate.io.raster import to_display_integers
from medtranslate.utils.atomic import atomic_path

__all__ = ["save_dicom", "series_description", "SOP_CLASSES"]

logger = logging.getLogger(__name__)

#: output modality -> SOP Class UID (grayscale); everything else is Secondary Capture.
SOP_CLASSES = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",
    "MR": "1.2.840.10008.5.1.4.1.1.4",
}
_SC = "1.2.840.10008.5.1.4.1.1.7"
_ANON_SALT = "medtranslate-anonymize"


def series_description(synthetic: bool, description: str | None, source: str | None, limit: int = 64) -> str:
    """The SeriesDescription (or NIfTI descrip) of an output, always carrying its marker within ``limit`` chars.

    Args:
        synthetic: a model made the image (``"SYNTHETIC ..."``); else it is a plain conversion.
        description: free text from the caller (model name, task).
        source: the source's own description, used for conversions when ``description`` is ``None``.
        limit: the field length (64 for DICOM LO, 79 for NIfTI descrip).
    """
    if synthetic:
        text = f"SYNTHETIC {description}" if description else "SYNTHETIC image made by medtranslate"
    else:
        body = description or source
        text = f"{body} (converted by medtranslate)" if body else "Converted by medtranslate"
        if len(text) > limit:
            marker = " (converted by medtranslate)"
            text = text[: limit - len(marker)].rstrip() + marker
    return " ".join(text.split())[:limit]


def _orientation_letters(v: np.ndarray) -> str:
    letters = ""
    for axis in np.argsort(-np.abs(v)):
        if abs(v[axis]) > 1e-4:
            letters += ("LR", "PA", "HF")[axis][0 if v[axis] > 0 else 1]
    return letters


def _uid(anonymize: bool, original: str | None) -> str:
    if original and not anonymize:
        return original
    if original:  # stable pseudonym: series of one study stay together, the original UID cannot be read back
        return generate_uid(entropy_srcs=[_ANON_SALT, original])
    return generate_uid()


def _identity(source: dict[str, Any], anonymize: bool) -> dict[str, Any]:
    if anonymize:
        return {
            "PatientName": "Anonymous^Patient",
            "PatientID": "ANONYMOUS",
            "PatientBirthDate": "",
            "PatientSex": "",
            "StudyDate": "",
            "StudyTime": "",
            "StudyID": "",
            "AccessionNumber": "",
            "ReferringPhysicianName": "",
            "StudyDescription": "",
            "PatientIdentityRemoved": "YES",
            "DeidentificationMethod": "medtranslate: identity, dates and UIDs replaced",
        }
    keys = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime", "StudyID")
    keys += ("AccessionNumber", "ReferringPhysicianName", "StudyDescription")
    out = {k: str(source.get(k, "") or "") for k in keys}
    if not source.get("StudyInstanceUID"):  # a new study begins now
        now = datetime.datetime.now()
        out.update(StudyDate=now.strftime("%Y%m%d"), StudyTime=now.strftime("%H%M%S"), StudyID="1")
    return out


def _geometry(affine: np.ndarray, n_slices: int, path: Path) -> tuple[np.ndarray, np.ndarray, list, list, float]:
    """Row/column direction cosines, slice positions (LPS) and spacings from a RAS voxel -> mm matrix."""
    lps = LPS_TO_RAS @ np.asarray(affine, dtype=np.float64)  # the flip is its own inverse
    di, dj = np.linalg.norm(lps[:3, 0]), np.linalg.norm(lps[:3, 1])
    row_dir, col_dir = lps[:3, 0] / di, lps[:3, 1] / dj
    if abs(float(row_dir @ col_dir)) > 1e-3:
        raise OutputError(path, "the in-plane axes are not perpendicular (sheared grid); DICOM cannot store it")
    normal = np.cross(row_dir, col_dir)
    step = lps[:3, 2] if np.linalg.norm(lps[:3, 2]) > 0 else normal
    positions = [lps[:3, 3] + k * step for k in range(n_slices)]
    thickness = abs(float(step @ normal)) or 1.0
    return np.concatenate([row_dir, col_dir]), normal, positions, [dj, di], thickness


def _source_refs(source: dict[str, Any]) -> tuple[str, str, list[str]]:
    sops = [s for s in str(source.get("SOPInstanceUIDs", "") or "").split("\\") if s]
    return str(source.get("SeriesInstanceUID", "") or ""), str(source.get("SOPClassUID", "") or ""), sops


def save_dicom(
    array: np.ndarray,
    affine: np.ndarray,
    path: Path,
    *,
    source: dict[str, Any] | None = None,
    anonymize: bool = False,
    synthetic: bool = False,
    description: str | None = None,
    modality: str | None = None,
) -> Path:
    """Write ``(C, X, Y[, Z])`` (C = 1 or 3) as a folder of single-frame DICOM files, one per slice.

    Args:
        array: channel-first data in output units.
        affine: 4x4 voxel -> RAS mm.
        path: the folder to create (replaced atomically if it exists).
        source: the source's ``meta["mt_dicom"]`` (identity, study, frame of reference, series and SOP UIDs).
        anonymize: replace identity, dates and UIDs, and drop the references to the source instances.
        synthetic: a model made the image (SeriesDescription "SYNTHETIC ...", ConversionType SYN).
        description: free text for SeriesDescription / DerivationDescription.
        modality: output Modality; defaults to the source's for conversions and to ``"OT"`` for synthetic images.

    Returns:
        The folder.

    Raises:
        OutputError: sheared in-plane geometry, NaN/inf values, or a folder that cannot be written.
    """
    source = dict(source or {})
    channels = array.shape[0]
    volume = array if array.ndim == 4 else array[..., None]
    n = volume.shape[-1]
    iop, normal, positions, pixel_spacing, thickness = _geometry(affine, n, path)
    out_modality = (modality or ("" if synthetic else source.get("Modality", "")) or "OT").upper()
    sop_class = SOP_CLASSES.get(out_modality, _SC) if channels == 1 else _SC
    now = datetime.datetime.now()
    date, time = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    src_series, src_class, src_sops = _source_refs(source)
    refer = bool(src_series) and not anonymize

    base: dict[str, Any] = {
        "SpecificCharacterSet": "ISO_IR 192",
        "ImageType": ["DERIVED", "SECONDARY"]
        + {SOP_CLASSES["CT"]: ["AXIAL"], SOP_CLASSES["MR"]: ["OTHER"]}.get(sop_class, []),
        "InstanceCreationDate": date,
        "InstanceCreationTime": time,
        "SOPClassUID": sop_class,
        "StudyInstanceUID": _uid(anonymize, source.get("StudyInstanceUID")),
        "SeriesInstanceUID": generate_uid(),
        "FrameOfReferenceUID": _uid(anonymize, source.get("FrameOfReferenceUID")),
        "PositionReferenceIndicator": "",
        "Laterality": "",
        "Modality": out_modality,
        "SeriesNumber": int(source["SeriesNumber"]) + 1000 if str(source.get("SeriesNumber", "")).isdigit() else 1000,
        "SeriesDescription": series_description(synthetic, description, source.get("SeriesDescription")),
        "SeriesDate": date,
        "SeriesTime": time,
        "ContentDate": date,
        "ContentTime": time,
        "Manufacturer": "medtranslate",
        "SoftwareVersions": __version__,
        "DerivationDescription": (
            f"{'Synthetic image made by' if synthetic else 'Converted by'} medtranslate {__version__}"
            + (f": {description}" if description else "")
        )[:1024],
        "BurnedInAnnotation": "NO",
        "ImageOrientationPatient": [ds_str(v) for v in iop],
        "PixelSpacing": [ds_str(v) for v in pixel_spacing],
        "SliceThickness": ds_str(thickness),
        "Rows": int(volume.shape[2]),
        "Columns": int(volume.shape[1]),
        **_identity(source, anonymize),
    }
    if source.get("BodyPartExamined") and not anonymize:
        base["BodyPartExamined"] = source["BodyPartExamined"]
    if sop_class != _SC:
        base["PatientPosition"] = "" if anonymize else str(source.get("PatientPosition", "") or "")
    if sop_class == _SC:
        base["ConversionType"] = "SYN" if synthetic else "WSD"
        base["PatientOrientation"] = [_orientation_letters(iop[:3]), _orientation_letters(iop[3:])]
    if sop_class == SOP_CLASSES["CT"]:
        base.update(KVP="", AcquisitionNumber="")
    if sop_class == SOP_CLASSES["MR"]:
        base.update(ScanningSequence="RM", SequenceVariant="NONE", ScanOptions="", MRAcquisitionType="")
        base.update(RepetitionTime="", EchoTime="", EchoTrainLength="", SpacingBetweenSlices=ds_str(thickness))
    if channels == 1:
        try:
            q = quantize16(volume[0])
        except ValueError as e:
            raise OutputError(path, str(e)) from e
        pixels = q.stored
        lo, hi = float(volume.min()), float(volume.max())
        base.update(
            SamplesPerPixel=1,
            PhotometricInterpretation="MONOCHROME2",
            BitsAllocated=16,
            BitsStored=16,
            HighBit=15,
            PixelRepresentation=1 if q.signed else 0,
            RescaleIntercept=ds_str(q.intercept),
            RescaleSlope=ds_str(q.slope),
            RescaleType="HU" if out_modality == "CT" else "US",
            WindowCenter=ds_str((lo + hi) / 2),
            WindowWidth=ds_str(max(hi - lo, 1.0)),
        )
    else:
        pixels = to_display_integers(volume, path, 8)  # (3, X, Y, Z) uint8
        base.update(
            SamplesPerPixel=3,
            PhotometricInterpretation="RGB",
            PlanarConfiguration=0,
            BitsAllocated=8,
            BitsStored=8,
            HighBit=7,
            PixelRepresentation=0,
        )
    if refer:
        instances = [Dataset() for _ in src_sops]  # Common Instance Reference module: the whole source series
        for item, sop in zip(instances, src_sops):
            item.ReferencedSOPClassUID = src_class or _SC
            item.ReferencedSOPInstanceUID = sop
        series_item = Dataset()
        series_item.SeriesInstanceUID = src_series
        series_item.ReferencedInstanceSequence = Sequence(instances)
        base["ReferencedSeriesSequence"] = Sequence([series_item]) if instances else None
    per_slice_source = refer and len(src_sops) == n
    width = max(4, len(str(n)))
    with atomic_path(path, is_dir=True) as tmp:
        for k in range(n):
            ds = Dataset()
            for key, value in base.items():
                if value is not None:
                    setattr(ds, key, value)
            ds.SOPInstanceUID = generate_uid()
            ds.InstanceNumber = k + 1
            ds.ImagePositionPatient = [ds_str(v) for v in positions[k]]
            ds.SliceLocation = ds_str(float(positions[k] @ normal))
            if per_slice_source:
                ref = Dataset()
                ref.ReferencedSOPClassUID = src_class or _SC
                ref.ReferencedSOPInstanceUID = src_sops[k]
                ds.SourceImageSequence = Sequence([ref])
            plane = pixels[:, :, k].T if channels == 1 else pixels[:, :, :, k].transpose(2, 1, 0)
            ds.PixelData = np.ascontiguousarray(plane).tobytes()
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = sop_class
            meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds.file_meta = meta
            pydicom.dcmwrite(tmp / f"{k + 1:0{width}d}.dcm", ds, enforce_file_format=True)
    return Path(path)
