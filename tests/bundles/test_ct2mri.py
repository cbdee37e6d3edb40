"""The ct2mri bundle: metadata offline, paper defaults, tiny training + resume, translation both ways through the CLI
(NIfTI and DICOM series, geometry, HU, derived SYNTHETIC DICOM checked by dciodvfy), evaluation report, bad inputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import torch

from medtranslate.cli.main import main

sys.path.insert(0, str(Path(__file__).parents[1] / "io"))
from io_helpers import dciodvfy_errors, write_series  # noqa: E402
from translate_helpers import run_translate  # noqa: E402

ROOT = Path(__file__).parents[2]
BUNDLE = ROOT / "bundles" / "ct2mri"
CONFIGS = BUNDLE / "configs"
TINY = {"gen_channels": 4, "gen_res_blocks": 1, "gen_downsamplings": 1, "image_size": [32, 32]}
TINY_SET = [a for k, v in TINY.items() for a in ("--set", f"{k}={json.dumps(v)}")]


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def test_metadata_verifies_offline_and_schema_is_shared():
    cmd = [
        sys.executable,
        "-m",
        "monai.bundle",
        "verify_metadata",
        "--meta_file",
        "configs/metadata.json",
        "--filepath",
        "configs/meta_schema.json",
    ]
    proc = subprocess.run(cmd, cwd=BUNDLE, capture_output=True, text=True, env=_env(), timeout=120)
    assert proc.returncode == 0 and "verified with no error" in proc.stdout + proc.stderr, proc.stderr[-2000:]
    other = ROOT / "bundles" / "oct2confocal" / "configs" / "meta_schema.json"
    if other.exists():
        assert other.read_bytes() == (CONFIGS / "meta_schema.json").read_bytes()
    for name in ("train", "train_paired", "inference", "evaluate", "multi_gpu_train"):
        json.loads((CONFIGS / f"{name}.json").read_text())
    assert (CONFIGS / "logging.conf").is_file() and (BUNDLE / "docs" / "README.md").is_file()


def test_paper_defaults():
    from monai.bundle import ConfigParser

    p = ConfigParser()
    p.read_config(str(CONFIGS / "train.json"))
    assert p["gen_res_blocks"] == 9 and p["gen_downsamplings"] == 2 and p["gen_channels"] == 64
    assert p["network_def"]["module"]["padding_mode"] == "reflect" and p["network_def"]["module"]["norm"] == "instance"
    assert p["disc_layers"] == 3 and p["disc_channels"] == 64  # 70x70 PatchGAN
    assert p["adversarial_mode"] == "lsgan" and p["lambda_cycle"] == 10.0
    assert p["cycle_ssim_weight"] == 0.0 and p["paired_ssim_weight"] == 0.0  # plain L1 unless a run asks for SSIM
    assert p["lr"] == 2e-4 and p["beta1"] == 0.5 and p["batch_size"] == 2
    assert (p["n_constant_epochs"], p["n_decay_epochs"], p["max_epochs"]) == (50, 50, 100)
    assert p["image_size"] == [256, 256]
    g = p.get_parsed_content("network_def#module", instantiate=True)
    assert sum(x.numel() for x in g.parameters()) == 11_365_633  # resnet_9blocks 1 -> 1 (docs/networks.md)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from medtranslate.data.samples import write_sample_dataset

    root = tmp_path_factory.mktemp("ct2mri")
    datalist = write_sample_dataset(root / "data", "ct_mr", n=4, seed=0, shape=(32, 32, 16))
    out = root / "train"
    args = [
        sys.executable,
        "-m",
        "monai.bundle",
        "run",
        "--config_file",
        str(CONFIGS / "train.json"),
        "--meta_file",
        str(CONFIGS / "metadata.json"),
        "--bundle_root",
        str(BUNDLE),
        "--dataset_dir",
        str(root / "data"),
        "--output_dir",
        str(out),
        "--disc_channels",
        "4",
        "--disc_layers",
        "1",
        "--slices_per_volume",
        "2",
        "--max_epochs",
        "2",
        "--n_constant_epochs",
        "1",
        "--n_decay_epochs",
        "1",
        "--checkpoint_interval",
        "3",
    ]
    for k, v in TINY.items():
        args += [f"--{k}", json.dumps(v)]
    proc = subprocess.run(args, capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"root": root, "datalist": Path(datalist), "ckpt": out / "checkpoints", "args": args}


@pytest.mark.slow
def test_training_resumes(trained):
    ckpts = sorted(p.name for p in trained["ckpt"].iterdir())
    assert ckpts == ["checkpoint_00000003.pt", "checkpoint_00000006.pt"]  # 3 volumes x 2 slices / batch 2 per epoch
    ckpt = torch.load(trained["ckpt"] / ckpts[-1], weights_only=True)
    assert set(ckpt) >= {"g_ab", "g_ba", "d_a", "d_b"} and ckpt["meta"]["epoch"] == 2
    from monai.bundle import run

    over = dict(zip(trained["args"][4::2], trained["args"][5::2]))
    kwargs = {k.lstrip("-"): v for k, v in over.items()}
    kwargs.update({k: json.loads(kwargs[k]) for k in TINY})
    for k in (
        "disc_channels",
        "disc_layers",
        "slices_per_volume",
        "n_constant_epochs",
        "n_decay_epochs",
        "checkpoint_interval",
    ):
        kwargs[k] = int(kwargs[k])
    kwargs["output_dir"] = str(trained["root"] / "resumed")
    import shutil

    shutil.copytree(trained["ckpt"], trained["root"] / "resumed" / "checkpoints")
    kwargs["max_epochs"] = 3
    run(**kwargs)
    ckpt = torch.load(trained["root"] / "resumed" / "checkpoints" / "checkpoint_00000009.pt", weights_only=True)
    assert ckpt["meta"]["epoch"] == 3 and ckpt["meta"]["iteration"] == 9


def test_paired_overlay_trains_on_registered_slices(trained):
    """``train_paired.json`` over ``train.json``: the batches are registered pairs (the same slice of the same head)
    and the generator loss carries the paired terms, here L1 + SSIM (as the demo trains) for them and the cycle."""
    from monai.bundle import ConfigWorkflow

    wf = ConfigWorkflow(
        config_file=[str(CONFIGS / "train.json"), str(CONFIGS / "train_paired.json")],
        workflow_type=None,
        bundle_root=str(BUNDLE),
        logging_file=False,
        dataset_dir=str(trained["root"] / "data"),
        output_dir=str(trained["root"] / "paired"),
        disc_channels=4,
        disc_layers=1,
        slices_per_volume=2,
        max_epochs=1,
        paired_ssim_weight=0.84,
        cycle_ssim_weight=0.84,
        **{"train#handlers": []},
        **TINY,
    )
    wf.initialize()
    assert wf.parser.get_parsed_content("lambda_paired") == 10.0
    dataset = wf.parser.get_parsed_content("train#dataset")
    for i in range(len(dataset)):
        item = dataset[i]
        ct_body, mr_body = item["A"] > -0.9, item["B"] > -0.8  # the head in each modality
        overlap = (ct_body & mr_body).sum() / (ct_body | mr_body).sum()
        assert item["A"].shape == item["B"].shape == (1, 32, 32) and overlap > 0.8, (i, float(overlap))
    trainer = wf.parser.get_parsed_content("train#trainer")
    assert trainer.paired_loss.ssim_weight == 0.84 and trainer.cycle_loss.ssim_weight == 0.84
    trainer.run()
    out = trainer.state.output
    assert out["loss_pair_AB"] > 0 and out["loss_pair_BA"] > 0 and trainer.state.iteration == 3


def _translate(trained, inp, out, *extra):
    return run_translate(BUNDLE, inp, out, trained["ckpt"], *TINY_SET, *extra)


@pytest.mark.slow
def test_translate_nifti_both_directions_keeps_geometry(trained, tmp_path, capsys):
    data = trained["root"] / "data"
    assert _translate(trained, data / "ct", tmp_path / "mr", "--direction", "ct2mr", "--set", "cycle_map=true") == 0
    src = nib.load(data / "ct" / "subject_000.nii.gz")
    fake_mr = nib.load(tmp_path / "mr" / "subject_000.nii.gz")
    assert fake_mr.shape == src.shape and np.allclose(fake_mr.affine, src.affine, atol=1e-5)
    assert np.allclose(fake_mr.header.get_zooms(), src.header.get_zooms(), atol=1e-5)
    v = fake_mr.get_fdata()
    assert v.min() >= -1 and v.max() <= 1  # MR outputs stay in the normalised range
    assert (tmp_path / "mr" / "subject_000_cycle_error.nii.gz").is_file()
    assert _translate(trained, data / "mr" / "subject_001.nii.gz", tmp_path / "ct", "--direction", "mr2ct") == 0
    fake_ct = nib.load(tmp_path / "ct" / "subject_001.nii.gz")
    assert fake_ct.get_data_dtype() == np.int16
    hu = fake_ct.get_fdata()
    assert hu.min() >= -1000 and hu.max() <= 2000 and hu.max() - hu.min() > 10  # HU, within the window
    assert fake_ct.header["descrip"].tobytes().startswith(b"SYNTHETIC")


@pytest.mark.slow
def test_translate_dicom_series_to_derived_synthetic_dicom(trained, tmp_path, capsys):
    write_series(tmp_path / "in" / "ct", 3)
    rc = _translate(trained, tmp_path / "in", tmp_path / "out", "--format", "dicom", "--format", "nifti")
    assert rc == 0, capsys.readouterr()
    (series,) = [p for p in (tmp_path / "out" / "dicom").iterdir() if p.is_dir()]
    files = sorted(series.glob("*.dcm"))
    assert len(files) == 3
    ds = pydicom.dcmread(files[0])
    src = pydicom.dcmread(next((tmp_path / "in" / "ct").glob("*.dcm")))
    assert ds.Modality == "MR" and list(ds.ImageType)[:2] == ["DERIVED", "SECONDARY"]
    assert ds.SeriesDescription.startswith("SYNTHETIC") and ds.StudyInstanceUID == src.StudyInstanceUID
    assert [float(x) for x in ds.PixelSpacing] == [float(x) for x in src.PixelSpacing]
    assert dciodvfy_errors(files[0])[0] == []
    # and back: the synthetic MR series to CT in HU, as DICOM CT
    rc = _translate(trained, series, tmp_path / "back", "--direction", "mr2ct", "--format", "dicom")
    assert rc == 0
    (back,) = [p for p in (tmp_path / "back" / "dicom").iterdir() if p.is_dir()]
    ct = pydicom.dcmread(sorted(back.glob("*.dcm"))[0])
    assert ct.Modality == "CT" and ct.RescaleType == "HU" and ct.SeriesDescription.startswith("SYNTHETIC")
    assert dciodvfy_errors(sorted(back.glob("*.dcm"))[0])[0] == []


@pytest.mark.slow
def test_evaluate_report(trained, tmp_path, capsys):
    rc = main(
        [
            "evaluate",
            "--bundle",
            str(BUNDLE),
            "--datalist",
            str(trained["datalist"]),
            "--output",
            str(tmp_path),
            "--checkpoint",
            str(trained["ckpt"]),
            *TINY_SET,
        ]
    )
    assert rc == 0
    res = json.loads((tmp_path / "metrics.json").read_text())["results"]
    assert {"SSIM translation", "SSIM cycle (CT->MR->CT)", "PSNR translation"} <= set(res["ct2mr"])
    assert {"SSIM translation", "SSIM cycle (MR->CT->MR)", "MAE", "MAE (body)"} <= set(res["mr2ct"])
    assert res["mr2ct"]["MAE"]["units"] == "HU" and res["mr2ct"]["MAE"]["value"] > 0
    for key in ("SSIM translation", "SSIM cycle (CT->MR->CT)"):
        assert -1 <= res["ct2mr"][key]["value"] <= 1 and res["ct2mr"][key]["n"] > 0
    for direction in ("ct2mr", "mr2ct"):  # the identity baseline (input untouched) is reported beside the translation
        base = res[direction]["SSIM identity (input untouched)"]
        assert -1 <= base["value"] <= 1 and base["n"] == res[direction]["SSIM translation"]["n"]
    assert "0.4038" in (tmp_path / "metrics.md").read_text()
    assert (tmp_path / "figure_ct2mr.png").stat().st_size > 1000


@pytest.mark.slow
def test_bad_inputs_are_named_and_the_batch_goes_on(trained, tmp_path, capsys, caplog):
    inp = tmp_path / "in"
    write_series(inp / "no_hu", 2, series_number=3)
    for p in (inp / "no_hu").glob("*.dcm"):
        d = pydicom.dcmread(p)
        del d.RescaleSlope, d.RescaleIntercept
        d.save_as(p)
    write_series(inp / "mr", 2, series_number=4)
    for p in (inp / "mr").glob("*.dcm"):
        d = pydicom.dcmread(p)
        d.Modality = "MR"
        d.save_as(p)
    nib.save(nib.Nifti1Image(np.zeros((16, 16, 4, 2), np.int16), np.eye(4)), inp / "fmri.nii.gz")
    nib.save(nib.Nifti1Image(np.full((16, 16, 4), -1000, np.int16), np.eye(4)), inp / "ok.nii.gz")
    rc = _translate(trained, inp, tmp_path / "out")
    out = capsys.readouterr().out
    assert rc == 1 and "translated 2 of 4" in out
    rows = {r["key"]: r for r in json.loads((tmp_path / "out" / "translate_report.json").read_text())["items"]}
    no_hu = next(r for r in rows.values() if r["input"].endswith("no_hu"))
    assert not no_hu["ok"] and "without RescaleSlope/RescaleIntercept" in no_hu["error"]
    assert not rows["fmri"]["ok"] and "fmri.nii.gz" in rows["fmri"]["error"] and "4D" in rows["fmri"]["error"]
    mr = next(r for r in rows.values() if r["input"].endswith("mr"))
    assert mr["ok"] and "DICOM MR series" in mr["warnings"][0]
    assert rows["ok"]["ok"]
