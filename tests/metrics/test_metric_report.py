"""JSON + Markdown reports, written atomically."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from medtranslate.errors import ConfigError
from medtranslate.metrics import flatten_results, write_report
from medtranslate.utils.atomic import TMP_MARK

NET = {"name": "InceptionV3 test", "path": "/w/x.pth", "sha256": "ab" * 32, "dims": 768, "layer": "Mixed_6e"}
NET2048 = {**NET, "dims": 2048}


def test_report_files_json_and_markdown(tmp_path):
    results = {
        "W Ref": {"FID768": {"value": 0.766, "n_real": 3, "n_generated": 3, "feature_network": NET}},
        "Total": {
            "KID2048": {"value": torch.tensor(0.155), "std": np.float32(0.01), "feature_network": NET2048},
            "SSIM": {"value": 0.9642, "n": 10, "units": ""},
            "PSNR": {"value": float("inf"), "units": "dB"},
            "MAE": {"value": float("nan"), "units": "HU"},
        },
        "epochs": 100,
    }
    json_path, md_path = write_report(results, tmp_path / "eval", name="table2", title="OCT2Confocal")
    assert json_path.name == "table2.json" and md_path.name == "table2.md"
    data = json.loads(json_path.read_text())
    assert data["report"]["title"] == "OCT2Confocal" and "medtranslate_version" in data["report"]
    total = data["results"]["Total"]
    assert total["KID2048"]["value"] == pytest.approx(0.155) and total["KID2048"]["std"] == pytest.approx(0.01)
    assert total["PSNR"]["value"] == "inf" and total["MAE"]["value"] is None
    md = md_path.read_text()
    assert md.startswith("# OCT2Confocal")
    assert "| W Ref | FID768 | 0.7660 |" in md and "3 gen / 3 real" in md
    assert "| Total | SSIM | 0.9642 |" in md and "| Total | MAE | n/a |" in md
    assert "Inception 768-d, sha256 abababababab" in md and "## Feature networks" in md and "ab" * 32 in md
    assert not [p for p in (tmp_path / "eval").iterdir() if TMP_MARK in p.name]


def test_flatten_and_errors(tmp_path):
    rows = flatten_results({"a": 1.0, "g": {"h": {"b": {"value": 2.0}}}})
    assert rows == [("", "a", 1.0), ("g / h", "b", {"value": 2.0})]
    with pytest.raises(ConfigError):
        write_report({}, tmp_path)
    json_path, md_path = write_report({"SSIM": 0.5}, tmp_path)
    assert "| SSIM | 0.5000 |" in md_path.read_text() and json.loads(json_path.read_text())["results"] == {"SSIM": 0.5}
