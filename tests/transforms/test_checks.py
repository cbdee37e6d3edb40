"""Input checks: shape, channels, slice count, CT without HU tags, modality mismatch warnings."""

from __future__ import annotations

import pytest
import torch
from monai.data import MetaTensor

from medtranslate.errors import InputError
from medtranslate.transforms import ModalityCheck, VolumeCheck, dicom_modality


def _img(shape, low=-1000.0, high=1000.0, **meta):
    t = torch.linspace(low, high, int(torch.tensor(shape).prod())).reshape(shape)
    return MetaTensor(t, meta=meta)


def test_shape_checks():
    check = VolumeCheck(channels=1, spatial_dims=(2, 3), slice_axis=2, min_size=4)
    assert check(_img((1, 8, 8, 3)), "a.nii") == []
    assert check(_img((1, 8, 8)), "slice.png") == []
    with pytest.raises(InputError, match=r"^a.nii: is 4D"):
        check(_img((1, 8, 8, 3, 2)), "a.nii")
    with pytest.raises(InputError, match="3 channels .a 4D series or a colour image"):
        check(_img((3, 8, 8, 3)), "a.nii")
    with pytest.raises(InputError, match="0 slice"):
        check(_img((1, 8, 8, 0)), "a.nii")
    with pytest.raises(InputError, match="too small"):
        check(_img((1, 2, 8, 3)), "a.nii")
    with pytest.raises(InputError, match="this network translates 3D"):
        VolumeCheck(spatial_dims=(3,))(_img((1, 8, 8)), "a.png")


def test_ct_dicom_without_rescale_tags_is_refused():
    check = ModalityCheck("CT")
    ok = _img((1, 8, 8, 4), mt_format="dicom", mt_dicom={"Modality": "CT", "RescaleIntercept": -1024.0})
    assert check(ok, "ct/") == []
    bad = _img((1, 8, 8, 4), 0, 4000, mt_format="dicom", mt_dicom={"Modality": "CT"})
    with pytest.raises(InputError, match=r"^ct/: is a CT series without RescaleSlope/RescaleIntercept"):
        check(bad, "ct/")


def test_modality_mismatch_warns():
    mr = _img((1, 8, 8, 4), 0, 500, mt_format="dicom", mt_dicom={"Modality": "MR"})
    assert dicom_modality(mr) == "MR"
    (w,) = ModalityCheck("CT")(mr, "mr/")
    assert "DICOM MR series" in w and "expects CT" in w
    (w,) = ModalityCheck("MR")(_img((1, 8, 8, 4), mt_format="dicom", mt_dicom={"Modality": "CT"}), "ct/")
    assert "DICOM CT series" in w
    # no DICOM tags: judged by the values
    (w,) = ModalityCheck("CT")(_img((1, 8, 8, 4), 0, 4000, mt_format="nifti"), "x.nii")
    assert "do not look like Hounsfield" in w
    (w,) = ModalityCheck("MR")(_img((1, 8, 8, 4), mt_format="nifti"), "x.nii")
    assert "looks like CT" in w
    assert ModalityCheck("MR")(_img((1, 8, 8, 4), 0, 900, mt_format="nifti"), "x.nii") == []
