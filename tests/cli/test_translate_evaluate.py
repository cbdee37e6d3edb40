"""CycleGANEvaluation with identity generators: every SSIM is 1, MAE 0 HU, pairs and figure handled."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import torch

from medtranslate.inferers import SliceTranslator, TranslationDirection
from medtranslate.metrics import CycleGANEvaluation, slice_metrics
from medtranslate.transforms import HUWindow, ModalityCheck, ScaleRange


def _identity() -> torch.nn.Module:
    conv = torch.nn.Conv2d(1, 1, 1)
    torch.nn.init.ones_(conv.weight)
    torch.nn.init.zeros_(conv.bias)
    return conv


@pytest.fixture
def datalist(tmp_path):
    rng = np.random.default_rng(0)
    items = {"ct": [], "mr": []}
    for i in range(2):
        vol = np.full((24, 20, 6), -1000, np.int16)
        ramp = np.add.outer(np.linspace(-200, 500, 16), np.linspace(0, 400, 14))  # smooth: resizing keeps it
        vol[4:20, 3:17, 1:5] = (ramp[:, :, None] + 50 * i + rng.normal(0, 5, (16, 14, 4))).astype(np.int16)
        for kind in ("ct", "mr"):
            path = tmp_path / kind / f"s{i}.nii.gz"
            path.parent.mkdir(exist_ok=True)
            nib.save(nib.Nifti1Image(vol, np.diag([0.7, 0.7, 3.0, 1.0])), path)
            items[kind].append(f"{kind}/s{i}.nii.gz")
    dl = {
        "name": "t",
        "test": {
            "domain_a": [{"image": p} for p in items["ct"]],
            "domain_b": [{"image": p} for p in items["mr"]],
            "pairs": [{"a": a, "b": b} for a, b in zip(items["ct"], items["mr"])],
        },
    }
    (tmp_path / "datalist.json").write_text(json.dumps(dl))
    return tmp_path / "datalist.json"


def test_identity_model_scores_perfectly(datalist, tmp_path):
    hu = HUWindow((-1000, 1000))
    directions = {
        "ct2mr": TranslationDirection(_identity(), hu, check=ModalityCheck("CT", slice_axis=2), modality="MR"),
        "mr2ct": TranslationDirection(_identity(), ScaleRange(-1000, 1000), output_transform=hu.inverse),
    }
    ev = CycleGANEvaluation(
        directions,
        "ct2mr",
        "mr2ct",
        datalist,
        tmp_path / "eval",
        SliceTranslator((-1, -1), axis=2),
        resize=(16, 16),
        units={"mr2ct": "HU"},
        body_threshold={"mr2ct": -500},
        names=("CT", "MR"),
        reference={"paper": {"SSIM": 0.4038}},
    )
    res = ev.run()
    ct2mr, mr2ct = res["ct2mr"], res["mr2ct"]
    # resizing to 16 x 16 and back blurs edges (twice for the cycle): high, not 1
    assert ct2mr["SSIM translation"]["value"] > 0.8 and ct2mr["SSIM cycle (CT->MR->CT)"]["value"] > 0.6
    assert ct2mr["SSIM translation"]["n"] == 8  # 2 volumes x 4 foreground slices (empty end slices skipped)
    assert mr2ct["SSIM cycle (MR->CT->MR)"]["value"] > 0.6 and mr2ct["MAE"]["units"] == "HU"
    assert res["reference"] == {"paper": {"SSIM": 0.4038}}
    assert [p.name for p in ev.report_paths] == ["metrics.json", "metrics.md", "figure_ct2mr.png", "figure_mr2ct.png"]
    # without resizing the identity model is exact
    ev = CycleGANEvaluation(
        directions,
        "ct2mr",
        "mr2ct",
        datalist,
        tmp_path / "e2",
        SliceTranslator((-1, -1), axis=2),
        units={"mr2ct": "HU"},
        figure=False,
    )
    res = ev.run()
    assert res["ct2mr"]["SSIM translation"]["value"] == pytest.approx(1.0, abs=1e-5)
    assert res["mr2ct"]["MAE"]["value"] == pytest.approx(0.0, abs=1e-2)


def test_slice_metrics_skips_slices():
    x = torch.rand(1, 12, 12, 3) * 2 - 1
    m = slice_metrics(x, x, axis=2, keep=torch.tensor([True, False, True]))
    assert m["ssim"] == pytest.approx([1.0, 1.0], abs=1e-6) and len(m["psnr"]) == 2
