"""The fundus2oct bundle (seed 002): metadata offline, paper defaults and variants, tiny CycleGAN training,
translation both ways through the CLI (any-size RGB fundus -> grey OCT PNG), bad inputs, the DRUSEN-only class
filter, the pix2pix variant, evaluation, and the distillation study on tiny data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from PIL import Image

from medtranslate.cli.bundle_runner import run_bundle_config
from medtranslate.cli.main import main
from medtranslate.data.samples import write_sample_dataset
from medtranslate.errors import ConfigError

sys.path.insert(0, str(Path(__file__).parents[1]))
from translate_helpers import run_translate  # noqa: E402

ROOT = Path(__file__).parents[2]
BUNDLE = ROOT / "bundles" / "fundus2oct"
CONFIGS = BUNDLE / "configs"
TINY = {"gen_channels": 4, "gen_res_blocks": 1, "gen_downsamplings": 1, "image_size": [32, 32]}
TINY_SET = [a for k, v in TINY.items() for a in ("--set", f"{k}={json.dumps(v)}")]
TINY_TRAIN = {**TINY, "disc_channels": 4, "disc_layers": 1, "max_epochs": 1, "n_constant_epochs": 1,
              "n_decay_epochs": 0, "checkpoint_interval": 1000, "sample_interval": 1000, "loss_plot_interval": 1000,
              "pool_size": 2, "device": "cpu"}  # fmt: skip


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _parser(*files: str, **overrides) -> ConfigParser:
    p = ConfigParser()
    p.read_config([str(CONFIGS / f) for f in files])
    p.update({"bundle_root": str(BUNDLE), **overrides})
    return p


def test_metadata_verifies_offline_and_files_are_there():
    cmd = [sys.executable, "-m", "monai.bundle", "verify_metadata", "--meta_file", "configs/metadata.json",
           "--filepath", "configs/meta_schema.json"]  # fmt: skip
    proc = subprocess.run(cmd, cwd=BUNDLE, capture_output=True, text=True, env=_env(), timeout=120)
    assert proc.returncode == 0 and "verified with no error" in proc.stdout + proc.stderr, proc.stderr[-2000:]
    assert (ROOT / "bundles" / "ct2mri" / "configs" / "meta_schema.json").read_bytes() == (
        CONFIGS / "meta_schema.json"
    ).read_bytes()
    for name in ("train", "inference", "evaluate", "multi_gpu_train", "distill"):
        json.loads((CONFIGS / f"{name}.json").read_text())
    assert (CONFIGS / "logging.conf").is_file() and (BUNDLE / "docs" / "README.md").is_file()


def test_paper_defaults_and_variants():
    p = _parser("train.json")
    assert p["lr"] == 2e-4 and p["beta1"] == 0.5 and p["image_size"] == [256, 256]
    assert p["lambda_identity"] == 0.5 and p["lambda_cycle"] == 10.0 and p["train_classes"] is None
    assert p["network_def"]["module"]["in_channels"] == 3 and p["network_def"]["module"]["out_channels"] == 1
    assert _parser("train.json", "variants/lr1e-5.json")["lr"] == 1e-5
    assert _parser("train.json", "variants/size512.json")["image_size"] == [512, 512]
    assert _parser("train.json", "variants/no_identity.json")["lambda_identity"] == 0.0
    assert _parser("train.json", "variants/drusen_only.json")["train_classes"] == ["DRUSEN"]
    mg = _parser("train.json", "multi_gpu_train.json")
    assert mg["g_ab"]["_target_"] == "medtranslate.engines.wrap_ddp" and "finalize" in mg.config


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("fundus2oct")
    return write_sample_dataset(root / "data", "fundus_oct", n=8, seed=0, shape=(40, 40))


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("f2o_train")
    run_bundle_config(BUNDLE, "train.json", {**TINY_TRAIN, "datalist": str(data), "output_dir": str(out)})
    return out / "checkpoints"


def test_drusen_only_filter_and_bad_class(data):
    p = _parser("train.json", "variants/drusen_only.json", datalist=str(data))
    a, b = p.get_parsed_content("train#datalist_a"), p.get_parsed_content("train#datalist_b")
    assert a and b and {i["label"] for i in a + b} == {"DRUSEN"}
    p = _parser("train.json", datalist=str(data), train_classes=["GLAUCOMA"])
    with pytest.raises(Exception) as err:  # MONAI wraps the ConfigError of the expression
        p.get_parsed_content("train#datalist_a")
    cause = err.value if isinstance(err.value, ConfigError) else err.value.__cause__
    assert isinstance(cause, ConfigError) and "'GLAUCOMA' (train_classes) is not in the class list" in str(cause)


@pytest.mark.slow
def test_train_and_translate_both_ways(data, trained, tmp_path, capsys):
    ckpt = torch.load(sorted(trained.iterdir())[-1], weights_only=True)
    assert set(ckpt) >= {"g_ab", "g_ba", "d_a", "d_b"}
    photos = tmp_path / "photos"
    photos.mkdir()
    fundus = np.asarray(Image.open(next((data.parent / "fundus" / "DRUSEN").glob("*.png"))))
    Image.fromarray(np.pad(fundus, ((5, 5), (30, 30), (0, 0)))).save(photos / "wide.png")  # any size: 50 x 100
    Image.fromarray(np.dstack([fundus, np.full(fundus.shape[:2], 255, np.uint8)])).save(photos / "rgba.png")
    rc = run_translate(BUNDLE, photos, tmp_path / "oct", trained, "--direction", "fundus2oct", "--format", "png",
                       *TINY_SET)  # fmt: skip
    assert rc == 0, capsys.readouterr()
    for name in ("wide.png", "rgba.png"):
        out = Image.open(tmp_path / "oct" / name)
        assert out.mode == "L" and out.size == (32, 32)  # grey OCT B-scan at the network's size
    rc = run_translate(BUNDLE, data.parent / "oct" / "CNV", tmp_path / "back", trained, "--direction", "oct2fundus",
                       "--format", "png", *TINY_SET)  # fmt: skip
    assert rc == 0
    back = Image.open(next((tmp_path / "back").glob("*.png")))
    assert back.mode == "RGB" and back.size == (32, 32)


@pytest.mark.slow
def test_training_run_is_a_bundle(data, trained, tmp_path):
    run = trained.parent
    assert (run / "models" / "model.pt").is_file() and (run / "configs" / "inference.json").is_file()
    photos = data.parent / "fundus" / "CNV"
    assert main(["translate", "--bundle", str(run), "--input", str(photos), "--output", str(tmp_path)]) == 0
    assert Image.open(next(tmp_path.glob("*.png"))).size == (32, 32)  # the run's image_size, no --set needed
    # the source bundle given only the checkpoints: they carry the settings (same output)
    args = ["translate", "--bundle", str(BUNDLE), "--checkpoint", str(trained), "--input", str(photos)]
    assert main([*args, "--output", str(tmp_path / "b")]) == 0
    for path in sorted(tmp_path.glob("*.png")):
        np.testing.assert_array_equal(np.asarray(Image.open(path)), np.asarray(Image.open(tmp_path / "b" / path.name)))


@pytest.mark.slow
def test_ckpt_export_gives_a_torchscript_generator(trained, tmp_path):
    run = trained.parent
    cmd = [sys.executable, "-m", "monai.bundle", "ckpt_export", "network_def", "--filepath", str(tmp_path / "g.ts")]
    cmd += ["--ckpt_file", "models/model.pt", "--key_in_ckpt", "g_ab", "--meta_file", "configs/metadata.json"]
    cmd += ["--config_file", "configs/inference.json", "--use_trace", "True", "--input_shape", "[1, 3, 32, 32]"]
    proc = subprocess.run(cmd, cwd=run, capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    scripted = torch.jit.load(str(tmp_path / "g.ts"))
    parser = ConfigParser()
    parser.read_config(str(run / "configs" / "inference.json"))
    parser["bundle_root"] = str(run)
    net = parser.get_parsed_content("network_def")
    net.load_state_dict(torch.load(run / "models" / "model.pt", weights_only=True)["g_ab"])
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        out = scripted(x)
        torch.testing.assert_close(out, net.eval()(x))
    assert out.shape == (1, 1, 32, 32)


@pytest.mark.slow
def test_grey_image_given_as_fundus_is_one_line(trained, tmp_path, capsys):
    Image.fromarray((np.random.default_rng(0).random((30, 40)) * 255).astype(np.uint8)).save(tmp_path / "g.png")
    rc = run_translate(BUNDLE, tmp_path / "g.png", tmp_path / "o", trained, "--direction", "fundus2oct", *TINY_SET)
    cap = capsys.readouterr()
    text = cap.out + cap.err
    assert rc == 1 and "g.png: is a greyscale image; a colour (RGB) fundus photograph is needed" in text
    assert "Traceback" not in text


@pytest.mark.slow
def test_evaluate_scores_structure_and_identity_baseline(data, trained, tmp_path):
    over = {**TINY, "datalist": str(data), "checkpoint": str(trained), "output_dir": str(tmp_path), "device": "cpu",
            "split": ["test", "training"],
            "metrics": json.loads((CONFIGS / "evaluate.json").read_text())["metrics"][:4]}  # fmt: skip
    ev = run_bundle_config(BUNDLE, "evaluate.json", over, result_id="evaluator")
    total = ev.results["fundus2oct"]
    names = [k for k in total if "layer-profile" in k]
    assert len(names) == 2 and all(-1 <= total[k]["value"] <= 1 for k in names)
    assert (tmp_path / "figure_fundus2oct.png").is_file()


@pytest.mark.slow
def test_pix2pix_variant_trains_on_pairs(data, tmp_path):
    over = {**TINY_TRAIN, "datalist": str(data), "output_dir": str(tmp_path), "checkpoint_interval": 2}
    cfg = f"['{CONFIGS / 'train.json'}', '{CONFIGS / 'variants' / 'pix2pix.json'}']"
    args = [sys.executable, "-m", "monai.bundle", "run", "--config_file", cfg, "--meta_file",
            str(CONFIGS / "metadata.json"), "--bundle_root", str(BUNDLE)]  # fmt: skip
    for k, v in over.items():
        args += [f"--{k}", json.dumps(v) if not isinstance(v, str) else v]
    proc = subprocess.run(args, capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (ckpt,) = sorted((tmp_path / "checkpoints").iterdir())[-1:]
    state = torch.load(ckpt, weights_only=True)
    assert "generator" in state and "discriminator" in state
    photos = data.parent / "fundus" / "DME"
    rc = main(["translate", "--bundle", str(tmp_path), "--input", str(photos), "--output", str(tmp_path / "o")])
    assert rc == 0  # the run's own bundle knows its generator key and sizes
    assert Image.open(next((tmp_path / "o").glob("*.png"))).mode == "L"
    args = ["translate", "--bundle", str(BUNDLE), "--checkpoint", str(tmp_path / "checkpoints"), "--input", str(photos)]
    assert main([*args, "--output", str(tmp_path / "p")]) == 0  # so does its checkpoint (generator_keys is a setting)
    for path in sorted((tmp_path / "o").glob("*.png")):
        np.testing.assert_array_equal(np.asarray(Image.open(path)), np.asarray(Image.open(tmp_path / "p" / path.name)))


TINY_DISTILL = {"widen_factor": 0.125, "classifier_size": [32, 32], "seeds": [0, 1], "teacher_epochs": 1,
                "student_epochs": 1, "device": "cpu"}  # fmt: skip


@pytest.mark.slow
def test_distillation_study_table(data, tmp_path):
    study = run_bundle_config(BUNDLE, "distill.json", {**TINY_DISTILL, "datalist": str(data),
                              "output_dir": str(tmp_path)}, result_id="study")  # fmt: skip
    res = study.result
    assert res["seeds"] == [0, 1] and len(res["per_seed"]) == 2
    for run in ("student_plain", "student_distilled"):
        s = res["per_seed"][0][run]
        assert 0 <= s["accuracy"] <= 1 and set(s["auc"]) == {"NORMAL", "DRUSEN", "CNV", "DME"}
    assert "distillation" in res["table"] and "Verdict" in res["table"]
    assert (tmp_path / "distillation.md").read_text() == res["table"]


def test_teacher_and_student_classes_differ_is_one_line(data, tmp_path):
    dl = json.loads(data.read_text())
    dl["training"]["domain_b"] = [i for i in dl["training"]["domain_b"] if i["label"] != "DME"]
    bad = data.parent / "bad_datalist.json"
    bad.write_text(json.dumps(dl))
    with pytest.raises(
        ConfigError, match=r"teacher and student classes differ \(teacher only: none; student only: DME"
    ):
        run_bundle_config(BUNDLE, "distill.json", {**TINY_DISTILL, "datalist": str(bad), "output_dir": str(tmp_path)})
    dl = json.loads(data.read_text())
    for split in ("training", "test"):
        for dom in ("domain_a", "domain_b", "pairs"):
            dl.get(split, {})[dom] = [i for i in dl.get(split, {}).get(dom, []) if i["label"] != "CNV"]
    bad.write_text(json.dumps(dl))
    with pytest.raises(ConfigError, match="class CNV has no images .* the class is empty"):
        run_bundle_config(BUNDLE, "distill.json", {**TINY_DISTILL, "datalist": str(bad), "output_dir": str(tmp_path)})


def test_label_missing_from_class_list_is_one_line(data, tmp_path):
    dl = json.loads(data.read_text())
    dl["labels"] = ["NORMAL", "DRUSEN", "CNV"]
    bad = data.parent / "bad_labels.json"
    bad.write_text(json.dumps(dl))
    with pytest.raises(ConfigError, match=r"'DME' is not one of the declared labels|'DME' is not in the class list"):
        run_bundle_config(BUNDLE, "distill.json", {**TINY_DISTILL, "datalist": str(bad), "output_dir": str(tmp_path)})
