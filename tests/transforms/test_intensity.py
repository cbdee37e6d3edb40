"""Invertible intensity normalisations: HU window, percentiles, range scaling (tensor, MetaTensor, numpy, dict)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from medtranslate.errors import ConfigError, InputError
from medtranslate.transforms import (
    HUWindow,
    HUWindowd,
    PercentileNormalize,
    PercentileNormalized,
    ScaleRange,
    ScaleRanged,
)


@pytest.mark.parametrize("spatial", [(6, 5), (6, 5, 4)])
def test_hu_window_round_trip_exact_inside_window(spatial):
    hu = torch.randint(-1024, 3072, (1, *spatial), dtype=torch.int16)
    img = MetaTensor(hu, affine=torch.diag(torch.tensor([0.5, 0.5, 2.0, 1.0])))
    t = HUWindow((-1024, 3071))
    x = t(img)
    assert x.dtype == torch.float32 and x.min() >= -1 and x.max() <= 1
    assert x.applied_operations[-1]["extra_info"]["a_min"] == -1024.0
    back = t.inverse(x)
    assert torch.allclose(back.as_tensor(), hu.float(), atol=1e-3)
    assert torch.equal(back.affine, img.affine) and not back.applied_operations
    assert torch.equal(torch.round(back.as_tensor()).to(torch.int16), hu)


def test_hu_window_clips_and_inverts_network_outputs_without_record():
    t = HUWindow(center=40, width=400)  # soft-tissue window [-160, 240]
    x = t(torch.tensor([-1000.0, -160.0, 40.0, 240.0, 2000.0]))
    assert torch.allclose(x, torch.tensor([-1.0, -1.0, 0.0, 1.0, 1.0]))
    back = t.inverse(torch.tensor([-1.0, 0.0, 0.5, 1.0]))  # a plain network output: fixed window applies
    assert torch.allclose(back, torch.tensor([-160.0, 40.0, 140.0, 240.0]))
    assert np.allclose(t.inverse(np.array([0.0])), [40.0])


def test_percentile_normalisation_records_its_range_and_inverts():
    rng = np.random.default_rng(0)
    arr = rng.gamma(2.0, 100.0, size=(1, 8, 8, 6)).astype(np.float32)
    img = MetaTensor(torch.from_numpy(arr))
    t = PercentileNormalize(1, 99)
    x = t(img)
    info = x.applied_operations[-1]["extra_info"]
    lo, hi = np.percentile(arr.astype(np.float64), [1, 99])
    assert info["a_min"] == pytest.approx(lo) and info["a_max"] == pytest.approx(hi)
    assert t.last_params == info
    back = t.inverse(x)
    inside = (arr >= lo) & (arr <= hi)
    assert np.allclose(back.numpy()[inside], arr[inside], rtol=1e-5, atol=1e-3)
    # a fresh transform instance inverts from the record alone
    x2 = t(img)
    assert np.allclose(PercentileNormalize(1, 99).inverse(x2).numpy()[inside], arr[inside], atol=1e-3)
    with pytest.raises(ConfigError, match="recorded range"):
        PercentileNormalize().inverse(torch.zeros(3))
    assert torch.allclose(t.inverse(torch.tensor([-1.0, 1.0]), params=info), torch.tensor([lo, hi]).float())


def test_numpy_and_generic_range():
    t = ScaleRange(0, 255)
    x = t(np.array([0, 51, 255], dtype=np.uint8))
    assert isinstance(x, np.ndarray) and np.allclose(x, [-1.0, -0.6, 1.0])
    assert np.allclose(t.inverse(x), [0, 51, 255], atol=1e-4)


def test_dict_variants_round_trip():
    img = MetaTensor(torch.linspace(-1000, 1000, 60).reshape(1, 3, 4, 5))
    for tr in (HUWindowd("image", window=(-1000, 1000)), ScaleRanged("image", -1000, 1000)):
        d = tr({"image": img, "other": 1})
        assert d["image"].min() == -1 and d["image"].max() == 1 and d["other"] == 1
        assert torch.allclose(tr.inverse(d)["image"].as_tensor(), img.as_tensor(), atol=1e-3)
    pd = PercentileNormalized("image", 0, 100)
    d = pd({"image": img})
    assert torch.allclose(pd.inverse(d)["image"].as_tensor(), img.as_tensor(), atol=1e-3)


def test_bad_settings_and_constant_images():
    with pytest.raises(ConfigError):
        HUWindow((100, -100))
    with pytest.raises(ConfigError):
        HUWindow((0, 10), center=0, width=10)
    with pytest.raises(ConfigError):
        PercentileNormalize(99, 1)
    with pytest.raises(InputError, match="constant"):
        PercentileNormalize()(torch.ones(1, 4, 4))
