"""LoadVolumed: the loading transform both bundles' training pipelines start with."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from monai.data import MetaTensor

from medtranslate.errors import InputError
from medtranslate.transforms import LoadVolumed


@pytest.mark.parametrize("shape", [(5, 6), (5, 6, 4)])
def test_loads_each_key_and_keeps_the_rest(tmp_path, shape):
    data = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    path = tmp_path / "img.nii.gz"
    nib.save(nib.Nifti1Image(data, np.diag([0.5, 0.7, 2.0, 1.0])), path)
    item = {"image": str(path), "label": "keep me"}
    out = LoadVolumed(keys="image")(item)
    assert isinstance(out["image"], MetaTensor) and tuple(out["image"].shape) == (1, *shape)
    np.testing.assert_array_equal(out["image"][0].numpy(), data)
    assert out["label"] == "keep me" and item["image"] == str(path)  # the input item is not modified


def test_missing_file_is_an_input_error_and_missing_key_allowed(tmp_path):
    with pytest.raises(InputError, match="nope.nii.gz"):
        LoadVolumed(keys="image")({"image": str(tmp_path / "nope.nii.gz")})
    assert LoadVolumed(keys="image", allow_missing_keys=True)({"other": 1}) == {"other": 1}
