"""`medtranslate translate` / TranslationWorkflow on a generic tiny bundle written by the test (2D net, slice-wise)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from medtranslate.cli.bundle_runner import parse_set_options
from medtranslate.cli.main import main
from medtranslate.errors import ConfigError
from medtranslate.inferers import ResizeNetwork
from medtranslate.networks import ResNetGenerator

sys.path.insert(0, str(Path(__file__).parents[1] / "io"))
from io_helpers import dciodvfy_errors, write_series  # noqa: E402
from translate_helpers import run_translate  # noqa: E402

NET = {
    "_target_": "medtranslate.networks.ResNetGenerator",
    "spatial_dims": 2,
    "in_channels": 1,
    "out_channels": 1,
    "channels": 4,
    "num_downsamplings": 1,
    "num_res_blocks": 1,
}
CONFIG = {
    "bundle_root": ".",
    "input_path": "",
    "output_dir": "$@bundle_root + '/outputs'",
    "direction": "a2b",
    "checkpoint": None,
    "output_formats": ["nifti"],
    "device": "cpu",
    "amp": "none",
    "network_def": NET,
    "network_def_ba": NET,
    "hu": {"_target_": "medtranslate.transforms.HUWindow", "window": [-1000, 1000]},
    "inferer": {
        "_target_": "medtranslate.inferers.SliceTranslator",
        "roi_size": [-1, -1],
        "axis": 2,
        "device": "@device",
        "amp": "@amp",
    },
    "directions": {
        "a2b": {
            "_target_": "medtranslate.workflows.TranslationDirection",
            "network": "@network_def",
            "network_key": "g_ab",
            "back_network": "@network_def_ba",
            "back_network_key": "g_ba",
            "input_transform": "@hu",
            "check": {"_target_": "medtranslate.transforms.ModalityCheck", "expected": "CT", "slice_axis": 2},
            "modality": "MR",
        },
        "b2a": {
            "_target_": "medtranslate.workflows.TranslationDirection",
            "network": "@network_def_ba",
            "network_key": "g_ba",
            "input_transform": {"_target_": "medtranslate.transforms.PercentileNormalize"},
            "output_transform": "$@hu.inverse",
            "output_dtype": "int16",
            "check": {"_target_": "medtranslate.transforms.ModalityCheck", "expected": "MR", "slice_axis": 2},
            "modality": "CT",
        },
    },
    "translator": {
        "_target_": "medtranslate.workflows.TranslationWorkflow",
        "directions": "@directions",
        "direction": "@direction",
        "input_path": "@input_path",
        "output_dir": "@output_dir",
        "translator": "@inferer",
        "checkpoint": "@checkpoint",
        "output_formats": "@output_formats",
        "device": "@device",
        "resize": [16, 16],
    },
    "run": ["$@translator.run()"],
}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("bundle")
    (root / "configs").mkdir()
    (root / "configs" / "inference.json").write_text(json.dumps(CONFIG, indent=1))
    torch.manual_seed(0)
    kw = {k: v for k, v in NET.items() if k != "_target_"}
    nets = {"g_ab": ResNetGenerator(**kw), "g_ba": ResNetGenerator(**kw)}
    torch.save({k: n.state_dict() for k, n in nets.items()}, root / "model.pt")
    return root


def _nifti(path: Path, data: np.ndarray, affine: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, affine), path)
    return path


AFFINE = np.array([[0.8, 0, 0, -10], [0, 0.9, 0, 5], [0, 0, 2.5, 3], [0, 0, 0, 1]])


def _run(bundle, inp, out, *extra):
    return run_translate(bundle, inp, out, bundle / "model.pt", *extra)


def test_translate_tree_keeps_geometry_and_reports(bundle, tmp_path, capsys):
    rng = np.random.default_rng(0)
    ct = rng.integers(-1024, 1500, size=(20, 12, 3)).astype(np.int16)
    _nifti(tmp_path / "in" / "p1" / "ct.nii.gz", ct, AFFINE)
    _nifti(tmp_path / "in" / "slice.nii.gz", ct[:, :, :1], AFFINE)  # a single slice
    (tmp_path / "in" / "broken.nii.gz").write_bytes(b"not a nifti")
    rc = _run(bundle, tmp_path / "in", tmp_path / "out", "--set", "translator#cycle_map=true")
    out = capsys.readouterr().out
    assert rc == 1, out  # one bad input: the batch goes on, exit 1
    assert "translated 2 of 3" in out and "broken.nii.gz" in out
    res = nib.load(tmp_path / "out" / "p1" / "ct.nii.gz")
    assert res.shape == ct.shape and np.allclose(res.affine, AFFINE, atol=1e-5)
    assert res.header["descrip"].tobytes().startswith(b"SYNTHETIC")
    data = res.get_fdata()
    assert np.isfinite(data).all() and data.min() >= -1 and data.max() <= 1  # MR stays in the network range
    assert (tmp_path / "out" / "p1" / "ct_cycle_error.nii.gz").is_file()
    report = json.loads((tmp_path / "out" / "translate_report.json").read_text())
    assert report["n_items"] == 3 and report["n_failed"] == 1 and report["direction"] == "a2b"
    rows = {r["key"]: r for r in report["items"]}
    assert rows["broken"]["ok"] is False and "broken.nii.gz" in rows["broken"]["error"]
    assert rows["p1/ct"]["ok"] and 0 <= rows["p1/ct"]["cycle_error_mean"] <= 2


def test_mr2ct_returns_hu_and_dicom_is_derived_synthetic(bundle, tmp_path, capsys):
    rng = np.random.default_rng(1)
    mr = rng.gamma(2.0, 100.0, size=(16, 16, 4)).astype(np.float32)
    _nifti(tmp_path / "mr.nii.gz", mr, AFFINE)
    rc = _run(
        bundle, tmp_path / "mr.nii.gz", tmp_path / "out", "--direction", "b2a", "--format", "nifti", "--format", "dicom"
    )
    assert rc == 0, capsys.readouterr().out
    ct = nib.load(tmp_path / "out" / "mr.nii.gz")
    data = ct.get_fdata()
    assert ct.get_data_dtype() == np.int16 and data.min() >= -1000 and data.max() <= 1000  # HU of the window
    files = sorted((tmp_path / "out" / "mr").glob("*.dcm"))
    assert len(files) == 4
    import pydicom

    ds = pydicom.dcmread(files[0])
    assert ds.Modality == "CT" and list(ds.ImageType)[:2] == ["DERIVED", "SECONDARY"]
    assert ds.SeriesDescription.startswith("SYNTHETIC") and ds.RescaleType == "HU"
    errors, _ = dciodvfy_errors(files[0])
    assert errors == []


def test_dicom_series_input_and_mr_where_ct_expected_warns(bundle, tmp_path, capsys, caplog):
    write_series(tmp_path / "ct", 3)
    assert _run(bundle, tmp_path / "ct", tmp_path / "out", "--format", "dicom") == 0
    (series,) = [p for p in (tmp_path / "out" / "dicom").iterdir() if p.is_dir()]
    import pydicom

    ds = pydicom.dcmread(sorted(series.glob("*.dcm"))[0])
    assert ds.Modality == "MR" and ds.SeriesDescription.startswith("SYNTHETIC")
    # an MR series given for ct -> mr: translated, with a warning in the log and the report
    write_series(tmp_path / "mr", 2)
    for p in (tmp_path / "mr").glob("*.dcm"):
        d = pydicom.dcmread(p)
        d.Modality = "MR"
        d.save_as(p)
    assert _run(bundle, tmp_path / "mr", tmp_path / "out2") == 0
    report = json.loads((tmp_path / "out2" / "translate_report.json").read_text())
    assert "DICOM MR series" in report["items"][0]["warnings"][0]


def test_run_errors_are_one_line(bundle, tmp_path, capsys):
    _nifti(tmp_path / "x.nii.gz", np.zeros((8, 8, 2), np.float32), AFFINE)
    assert _run(bundle, tmp_path / "x.nii.gz", tmp_path / "o", "--direction", "ct2pet") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown direction 'ct2pet'" in err and "a2b, b2a" in err
    assert _run(bundle, tmp_path / "missing", tmp_path / "o") == 2
    assert "missing: input not found" in capsys.readouterr().err
    rc = run_translate(bundle, tmp_path / "x.nii.gz", tmp_path / "o", tmp_path / "none.pt")
    assert rc == 2 and "none.pt: checkpoint not found" in capsys.readouterr().err
    assert main(["translate", "--bundle", str(tmp_path / "nob"), "--input", "x", "--output", "o"]) == 2
    assert "bundle folder not found" in capsys.readouterr().err


def test_set_options_and_resize_network():
    assert parse_set_options(["a=1", "b#c=[1, 2]", "d=text", "e=null"]) == {
        "a": 1,
        "b#c": [1, 2],
        "d": "text",
        "e": None,
    }
    with pytest.raises(ConfigError):
        parse_set_options(["novalue"])
    seen = []

    class Twice(torch.nn.Module):
        def forward(self, x):
            seen.append(tuple(x.shape))
            return x * 2

    wrapped = ResizeNetwork(Twice(), (16, 16))
    y = wrapped(torch.ones(2, 1, 40, 24))
    assert seen == [(2, 1, 16, 16)] and y.shape == (2, 1, 40, 24) and torch.allclose(y, torch.full_like(y, 2.0))


def test_translate_never_replaces_an_input_and_skips_its_own_outputs(bundle, tmp_path, capsys):
    """Issue 9, item 1: an output that would replace the input is refused (the input stays as it was); an output
    folder inside the input tree is not translated again by a second run."""
    rng = np.random.default_rng(2)
    ct = _nifti(tmp_path / "in" / "same" / "ct.nii.gz", rng.integers(-1000, 1000, (20, 12, 3)).astype(np.int16), AFFINE)
    before = ct.read_bytes()
    assert _run(bundle, ct, tmp_path / "in" / "same") == 1
    assert "would replace an input" in capsys.readouterr().out and ct.read_bytes() == before
    for _ in range(2):
        assert _run(bundle, tmp_path / "in", tmp_path / "in" / "out") == 0
        report = json.loads((tmp_path / "in" / "out" / "translate_report.json").read_text())
        assert [r["key"] for r in report["items"]] == ["same/ct"]
    assert not (tmp_path / "in" / "out" / "out").exists() and ct.read_bytes() == before


def test_unwritable_output_fails_once_before_any_model_is_loaded(bundle, tmp_path, capsys):
    """Issue 9, item 2: the destination is checked first (a missing checkpoint is not even looked at), one line."""
    _nifti(tmp_path / "x.nii.gz", np.zeros((8, 8, 2), np.float32), AFFINE)
    (tmp_path / "file").write_text("a file, not a folder")
    rc = run_translate(bundle, tmp_path / "x.nii.gz", tmp_path / "file" / "out", tmp_path / "none.pt")
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "cannot create the destination folder" in err, err


def test_cuda_on_a_cpu_build_is_one_line(bundle, tmp_path, capsys, monkeypatch):
    """Issue 9, item 16: --device cuda without CUDA says so (and that this torch is a CPU build)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", None)
    _nifti(tmp_path / "x.nii.gz", np.zeros((8, 8, 2), np.float32), AFFINE)
    assert _run(bundle, tmp_path / "x.nii.gz", tmp_path / "o", "--device", "cuda") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "CUDA is not available" in err and "CPU build" in err, err
    assert "ConfigExpression" not in err


@pytest.mark.parametrize(
    "setting, says",
    [("gen_channels=abc", "gen_channels takes a number"), ("image_size=big", "image_size takes a list")],
)
def test_a_mistyped_set_value_is_one_clear_line(tmp_path, capsys, setting, says):
    """Issue 9, item 17: --set gen_channels=abc names the key and what it takes, not MONAI's internal message."""
    ct2mri = Path(__file__).resolve().parents[2] / "bundles" / "ct2mri"
    _nifti(tmp_path / "x.nii.gz", np.zeros((8, 8, 2), np.float32), AFFINE)
    args = [
        "translate",
        "--bundle",
        str(ct2mri),
        "--input",
        str(tmp_path / "x.nii.gz"),
        "--output",
        str(tmp_path / "o"),
    ]
    rc = main([*args, "--set", setting])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and says in err, err


def test_one_amp_parser_for_inference_and_training():
    """Issue 9, item 13: the sliding-window inferer and the trainers accept the same spellings, through one parser."""
    from medtranslate.engines import amp as engine_amp
    from medtranslate.inferers import VolumeTranslator
    from medtranslate.utils import amp

    assert engine_amp.resolve_amp is amp.resolve_amp
    for spelling, dtype in [("bf16", torch.bfloat16), ("bfloat16", torch.bfloat16), ("half", torch.float16),
                            ("none", None), (None, None), ("fp32", None)]:  # fmt: skip
        assert VolumeTranslator((8, 8), amp=spelling).amp == dtype == amp.resolve_amp(spelling)
    with pytest.raises(ConfigError, match="amp must be one of"):
        VolumeTranslator((8, 8), amp="fp8")
