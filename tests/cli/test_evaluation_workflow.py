"""EvaluationWorkflow configured like ct2mri's evaluate.json, with identity generators: SSIM 1, MAE 0 HU, pairs,
figures; a metric callable reading a ground-truth key of the datalist; FID/KID-style set metrics with groups."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import torch

from medtranslate.errors import ConfigError
from medtranslate.inferers import SliceTranslator
from medtranslate.metrics import MeanAbsoluteError, SliceSimilarity, slice_metrics
from medtranslate.transforms import HUWindow, ModalityCheck, RandSpeckle, ScaleRange
from medtranslate.workflows import DerivedValue, EvaluationPass, EvaluationWorkflow, TranslationDirection


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


def _ct2mri_like(directions, datalist, out, resize=None, figures=True, **kwargs):
    hu, mr = directions["ct2mr"].input_transform, directions["mr2ct"].input_transform
    passes = [
        {
            "direction": "ct2mr",
            "section": "domain_a",
            "pairs": ["a", "b"],
            "target_transform": mr,
            "names": ["CT", "MR"],
        },
        {
            "direction": "mr2ct",
            "section": "domain_b",
            "pairs": ["b", "a"],
            "target_transform": hu,
            "names": ["MR", "CT"],
        },
    ]
    metrics = [
        {"name": "SSIM translation", "metric": SliceSimilarity("ssim"), "pred": "fake", "target": "target",
         "mask": "input"},
        {"name": "PSNR translation", "metric": SliceSimilarity("psnr"), "pred": "fake", "target": "target",
         "mask": "input"},
        {"name": "SSIM cycle ({source}->{target}->{source})", "metric": SliceSimilarity("ssim"), "pred": "rec",
         "target": "input", "mask": "input"},
        {"name": "MAE", "metric": MeanAbsoluteError(), "pred": "output", "target": "target_image", "units": "HU",
         "passes": ["mr2ct"]},
        {"name": "MAE (body)", "metric": MeanAbsoluteError(-500), "pred": "output", "target": "target_image",
         "units": "HU", "passes": ["mr2ct"]},
    ]  # fmt: skip
    panels = [
        ["generated {target}", "fake"],
        ["real {target}", "target"],
        ["restored {source}", "rec"],
        ["original {source}", "input"],
    ]
    figs = [{"file": "figure_{direction}.png", "panels": panels}] if figures else []
    return EvaluationWorkflow(
        directions, datalist, out, SliceTranslator((-1, -1), axis=2), passes, metrics, resize=resize, figures=figs,
        **kwargs,
    )  # fmt: skip


def _directions():
    hu = HUWindow((-1000, 1000))
    return {
        "ct2mr": TranslationDirection(
            _identity(), hu, check=ModalityCheck("CT", slice_axis=2), modality="MR", back_network=_identity()
        ),
        "mr2ct": TranslationDirection(
            _identity(), ScaleRange(-1000, 1000), output_transform=hu.inverse, back_network=_identity()
        ),
    }


def test_identity_model_scores_perfectly(datalist, tmp_path):
    ev = _ct2mri_like(
        _directions(), datalist, tmp_path / "eval", resize=(16, 16), reference={"paper": {"SSIM": 0.4038}}
    )
    res = ev.run()
    ct2mr, mr2ct = res["ct2mr"], res["mr2ct"]
    # resizing to 16 x 16 and back blurs edges (twice for the cycle): high, not 1
    assert ct2mr["SSIM translation"]["value"] > 0.8 and ct2mr["SSIM cycle (CT->MR->CT)"]["value"] > 0.6
    assert ct2mr["SSIM translation"]["n"] == 8  # 2 volumes x 4 foreground slices (empty end slices skipped)
    assert mr2ct["SSIM cycle (MR->CT->MR)"]["value"] > 0.6 and mr2ct["MAE"]["units"] == "HU"
    assert "MAE" not in ct2mr  # declared for mr2ct only
    assert res["reference"] == {"paper": {"SSIM": 0.4038}}
    assert [p.name for p in ev.report_paths] == ["metrics.json", "metrics.md", "figure_ct2mr.png", "figure_mr2ct.png"]
    # without resizing the identity model is exact
    res = _ct2mri_like(_directions(), datalist, tmp_path / "e2", figures=False).run()
    assert res["ct2mr"]["SSIM translation"]["value"] == pytest.approx(1.0, abs=1e-5)
    assert res["mr2ct"]["MAE"]["value"] == pytest.approx(0.0, abs=1e-2)


def test_figure_titles_follow_the_direction(datalist, tmp_path, monkeypatch):
    """Issue 9, item 11: figure_mr2ct.png titles its panels as MR -> CT, not as CT -> MR."""
    import medtranslate.workflows.evaluation as evaluation

    seen = {}

    def record(panels, path, value_ranges=None):
        seen[path.name] = [title for title, _ in panels]
        return path

    monkeypatch.setattr(evaluation, "save_panel_figure", record)
    _ct2mri_like(_directions(), datalist, tmp_path / "eval").run()
    assert seen["figure_ct2mr.png"] == ["generated MR", "real MR", "restored CT", "original CT"]
    assert seen["figure_mr2ct.png"] == ["generated CT", "real CT", "restored MR", "original MR"]


def test_ground_truth_key_from_the_datalist_and_a_custom_metric(datalist, tmp_path):
    """A metric entry may name any datalist key as its target (e.g. a vessel mask), with any callable."""
    dl = json.loads(datalist.read_text())
    for item in dl["test"]["domain_a"]:
        item["truth"] = item["image"].replace("ct/", "mr/")  # the paired volume, as a ground-truth file
    datalist.write_text(json.dumps(dl))
    calls = []

    def max_abs(pred, target):
        calls.append(tuple(target.shape))
        return float((pred - target).abs().max())

    metrics = [{"name": "max error vs truth", "metric": max_abs, "pred": "output", "target": "truth"}]
    hu = HUWindow((-1000, 1000))
    directions = {"ct2mr": TranslationDirection(_identity(), hu, output_transform=hu.inverse)}
    passes = [{"direction": "ct2mr", "cycle": False}]
    ev = EvaluationWorkflow(directions, datalist, tmp_path / "e", SliceTranslator((-1, -1), axis=2), passes, metrics)
    res = ev.run()
    assert calls == [(1, 24, 20, 6)] * 2
    assert res["ct2mr"]["max error vs truth"]["n"] == 2
    assert res["ct2mr"]["max error vs truth"]["value"] == pytest.approx(0.0, abs=0.1)


def test_set_metric_groups_and_too_few_images(datalist, tmp_path):
    """Set metrics see every translation of a group against the real images; a group too small is skipped with a
    warning, the main group too small is an error."""
    dl = json.loads(datalist.read_text())
    dl["test"]["domain_a"][0]["group"] = "W Ref"
    datalist.write_text(json.dumps(dl))
    got = {}

    def count(generated, real):
        if len(generated) < 2:
            raise ConfigError(None, "need 2")
        got[len(generated)] = len(real)
        return {"count": {"value": float(len(generated))}}

    hu = HUWindow((-1000, 1000))
    directions = {"ct2mr": TranslationDirection(_identity(), hu)}
    passes = [{"direction": "ct2mr", "name": "Total", "group_key": "group", "cycle": False}]
    metrics = [{"name": "n", "metric": count, "pred": "fake", "target": "real", "reduce": "set"}]
    real = {"split": ["validation", "test"], "section": "domain_b", "transform": hu}
    ev = EvaluationWorkflow(
        directions, datalist, tmp_path / "e", SliceTranslator((-1, -1), axis=2), passes, metrics, real_images=real
    )
    res = ev.run()
    assert res["Total"] == {"count": {"value": 2.0}} and res["W Ref"] == {} and got == {2: 2}
    dl["test"]["domain_a"] = dl["test"]["domain_a"][:1]
    datalist.write_text(json.dumps(dl))
    with pytest.raises(ConfigError, match="group 'Total': need 2"):
        EvaluationWorkflow(
            directions, datalist, tmp_path / "e", SliceTranslator((-1, -1), axis=2), passes, metrics, real_images=real
        ).run()


def test_slice_metrics_skips_slices():
    x = torch.rand(1, 12, 12, 3) * 2 - 1
    m = slice_metrics(x, x, axis=2, keep=torch.tensor([True, False, True]))
    assert m["ssim"] == pytest.approx([1.0, 1.0], abs=1e-6) and len(m["psnr"]) == 2


class _AddNoise(torch.nn.Module):
    """A seeded random corruption with MONAI's Randomizable interface (adds N(0, 0.1))."""

    def __init__(self):
        super().__init__()
        self.R = np.random.RandomState()

    def set_random_state(self, seed):
        self.R = np.random.RandomState(seed)

    def forward(self, x):
        return x + torch.as_tensor(self.R.normal(0, 0.1, tuple(x.shape)), dtype=x.dtype)


def _restoration(tmp_path, corrupt, network, seed=0, draws=3, split="test", datalist=None, **pass_kwargs):
    """An EvaluationWorkflow that corrupts 2D images and scores ``network``'s restoration against the clean image."""
    images = []
    for i in range(2):
        path = tmp_path / f"clean{i}.nii.gz"
        nib.save(nib.Nifti1Image(np.full((12, 10), 0.2 + 0.3 * i, np.float32), np.eye(4)), path)
        images.append(str(path))
    direction = TranslationDirection(network=network, input_transform=lambda image: torch.as_tensor(image).float())
    mse = lambda pred, target: float(((pred - target) ** 2).mean())  # noqa: E731
    wf = EvaluationWorkflow(
        {"restore": direction},
        datalist,
        tmp_path / "out",
        lambda net, x, name: net(x[None])[0].detach(),
        passes=[
            {
                "direction": "restore",
                "split": split,
                "images": images,
                "cycle": False,
                "corrupt": corrupt,
                "draws": draws,
                **pass_kwargs,
            }
        ],
        metrics=[
            {"name": "MSE corrupted", "metric": mse, "pred": "input", "target": "target"},
            {"name": "MSE restored", "metric": mse, "pred": "fake", "target": "target"},
            {"name": "MSE smoothed input", "metric": mse, "pred": "input_mean", "target": "target"},
            {"name": "MSE smoothed restored", "metric": mse, "pred": "fake_mean", "target": "target"},
        ],
        derived=[
            {"name": "input_mean", "source": "input", "transform": lambda x: torch.full_like(x, float(x.mean()))},
            {"name": "fake_mean", "source": "fake", "transform": lambda x: torch.full_like(x, float(x.mean()))},
        ],
        figures=[{"file": "f.png", "panels": [["clean", "target"], ["noisy", "input"], ["mean", "input_mean"]]}],
        seed=seed,
    )
    return wf


def test_corrupt_pass_scores_against_the_clean_image_with_seeded_draws(tmp_path):
    res = _restoration(tmp_path, _AddNoise(), torch.nn.Identity()).run()["restore"]
    assert res["MSE corrupted"]["n"] == 2 * 3  # two image files, three draws each, no datalist
    assert res["MSE corrupted"]["value"] == pytest.approx(0.01, rel=0.3)  # the noise, measured against the clean
    assert res["MSE restored"]["value"] == res["MSE corrupted"]["value"]  # identity network: fake == input
    assert res["MSE smoothed input"]["value"] < 1e-3  # derived value: the constant image's mean removes the noise
    assert res["MSE smoothed restored"]["value"] == res["MSE smoothed input"]["value"]
    # reproducible: same seed, same numbers; another seed, other draws
    again = _restoration(tmp_path, _AddNoise(), torch.nn.Identity()).run()["restore"]
    other = _restoration(tmp_path, _AddNoise(), torch.nn.Identity(), seed=1).run()["restore"]
    assert again["MSE corrupted"] == res["MSE corrupted"]
    assert other["MSE corrupted"]["value"] != res["MSE corrupted"]["value"]
    assert (tmp_path / "out" / "f.png").is_file()


def test_corrupt_pass_with_a_monai_transform_and_a_datalist(tmp_path):
    ones = torch.nn.Conv2d(1, 1, 1, bias=False)
    torch.nn.init.zeros_(ones.weight)  # a "network" that returns 0: MSE restored == mean of the clean image squared
    wf = _restoration(tmp_path, RandSpeckle(looks=4.0), ones, datalist={"name": "t"}, draws=1, split=[])
    res = wf.run()["restore"]
    assert res["MSE restored"]["value"] == pytest.approx((0.2**2 + 0.5**2) / 2)
    assert res["MSE corrupted"]["n"] == 2 and res["MSE corrupted"]["value"] > 0


def test_corrupt_and_derived_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="drop pairs"):
        EvaluationPass(direction="x", pairs=["a", "b"], corrupt=lambda x: x)
    with pytest.raises(ConfigError, match="draws"):
        EvaluationPass(direction="x", corrupt=lambda x: x, draws=0)
    with pytest.raises(ConfigError, match="replace a computed value"):
        DerivedValue(name="fake", source="input", transform=lambda x: x)
