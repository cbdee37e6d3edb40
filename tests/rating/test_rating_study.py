"""Study files, study folders, tokens and the image views: every bad input is one clear line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from jsonschema import Draft202012Validator
from PIL import Image
from rating_helpers import MODELS, write_study_spec

from medtranslate.errors import ConfigError, InputError, OutputError
from medtranslate.io import save_image
from medtranslate.rating.render import image_views
from medtranslate.rating.study import (
    candidate_order,
    create_study,
    load_schema,
    load_study_spec,
    open_study,
    rank_scores,
    spec_from_folders,
)

ROOT = Path(__file__).resolve().parents[2]


def test_schema_copies_are_identical_and_valid():
    shipped = ROOT / "medtranslate" / "data" / "schemas" / "rating_study.schema.json"
    spec = ROOT / "data_specs" / "rating_study.schema.json"
    assert shipped.read_bytes() == spec.read_bytes()
    Draft202012Validator.check_schema(load_schema())


def _spec(study_spec: Path) -> dict:
    return json.loads(study_spec.read_text())


def _write(tmp_path: Path, study_spec: Path, data: dict) -> Path:
    out = study_spec.parent / f"bad_{tmp_path.name}.json"
    out.write_text(json.dumps(data))
    return out


def test_sets_with_different_numbers_of_models_are_one_clear_line(study_spec, tmp_path):
    data = _spec(study_spec)
    del data["sets"][1]["outputs"][MODELS[2]]
    with pytest.raises(ConfigError) as e:
        load_study_spec(_write(tmp_path, study_spec, data))
    msg = str(e.value)
    assert "\n" not in msg and "set 'case1' has 2 models but set 'case0' has 3" in msg


def test_sets_with_other_model_names_are_refused(study_spec, tmp_path):
    data = _spec(study_spec)
    data["sets"][2]["outputs"]["Other"] = data["sets"][2]["outputs"].pop(MODELS[1])
    with pytest.raises(
        ConfigError, match="set 'case2' has models .*Other.* every set must show the outputs of the same"
    ):
        load_study_spec(_write(tmp_path, study_spec, data))


def test_missing_image_and_duplicate_set_names(study_spec, tmp_path):
    data = _spec(study_spec)
    data["sets"][0]["outputs"][MODELS[1]] = "images/nowhere.png"
    data["sets"][1]["name"] = "case0"
    with pytest.raises(ConfigError) as e:
        load_study_spec(_write(tmp_path, study_spec, data))
    msg = str(e.value)
    assert "2 problems" in msg and "image not found" in msg and "nowhere.png" in msg and "used twice" in msg
    assert "\n" not in msg


def test_schema_problems_name_their_json_path(study_spec, tmp_path):
    data = _spec(study_spec)
    data["sets"][0]["outputs"] = {MODELS[0]: data["sets"][0]["outputs"][MODELS[0]]}
    data["colour"] = "red"
    with pytest.raises(ConfigError, match=r"\$\.sets\[0\]\.outputs: .*fewer than 2|\$: Additional properties"):
        load_study_spec(_write(tmp_path, study_spec, data))


def test_create_renders_every_image_and_keeps_model_names_off_disk_names(study, study_spec):
    assert [s.kind for s in study.sets] == ["reference", "blind", "blind"]
    assert study.models == sorted(MODELS)
    pngs = sorted(p.name for p in study.images_dir.iterdir())
    n_views = 3 * (1 + 3) + 1  # per set: input + 3 outputs, plus one reference
    n_strips = 3  # the first model's outputs are volumes
    assert len(pngs) == n_views + n_strips
    for p in study.images_dir.iterdir():
        blob = p.read_bytes().lower()
        assert not any(m.lower().encode() in blob for m in MODELS)
        assert not any(m.lower() in p.name.lower() for m in MODELS)
    assert open_study(study.folder).sets == study.sets
    assert json.loads((study.folder / "study.json").read_text())["seed"] == 7


def test_create_refuses_a_folder_that_is_not_empty(study, study_spec):
    with pytest.raises(OutputError, match="not empty"):
        create_study(study.folder, load_study_spec(study_spec), source=study_spec)


def test_reference_sets_come_first_whatever_the_file_order(tmp_path):
    spec_path = write_study_spec(tmp_path / "imgs", n_reference=1, n_blind=1, models=MODELS[1:])
    data = json.loads(spec_path.read_text())
    data["sets"].reverse()
    spec_path.write_text(json.dumps(data))
    st = create_study(tmp_path / "s", load_study_spec(spec_path), source=spec_path)
    assert [(s.name, s.kind) for s in st.sets] == [("case0", "reference"), ("case1", "blind")]


def test_order_is_stable_per_rater_and_differs_between_raters(study):
    s = study.sets[1]
    a = candidate_order(study.seed, "alice", s)
    assert a == candidate_order(study.seed, "alice", s)
    assert sorted(a) == sorted(s.outputs.values())
    orders = {tuple(candidate_order(study.seed, f"rater{k}", s)) for k in range(20)}
    assert len(orders) > 1
    assert candidate_order(study.seed + 1, "alice", s) != a or candidate_order(study.seed + 2, "alice", s) != a


def test_duplicate_rater_name_and_new_links(study):
    token = study.store.add_rater("alice")
    with pytest.raises(ConfigError) as e:
        study.store.add_rater(" alice ")
    assert "already has a rater named 'alice'" in str(e.value) and "\n" not in str(e.value)
    assert study.store.rater_for_token(token).name == "alice"
    new = study.store.add_rater("alice", replace_token=True)
    assert study.store.rater_for_token(token) is None and study.store.rater_for_token(new).name == "alice"
    with pytest.raises(ConfigError, match="no rater named 'zed'"):
        study.store.add_rater("zed", replace_token=True)
    short = study.store.add_rater("bob", valid_days=1.0)
    assert study.store.rater_for_token(short) is not None
    assert study.store.rater_for_token(short, now=2e10) is None  # after expiry
    assert study.store.rater_for_token("") is None and study.store.rater_for_token("x" * 500) is None


def test_rank_scores_span_1_to_100():
    assert rank_scores(["a", "b"]) == {"a": 100.0, "b": 1.0}
    assert rank_scores(["a", "b", "c", "d"]) == {"a": 100.0, "b": 67.0, "c": 34.0, "d": 1.0}


def test_png_views_look_like_the_file_and_volumes_get_a_strip(tmp_path):
    pixels = np.zeros((10, 30), dtype=np.uint8)  # 10 rows, 30 columns, bright right third
    pixels[:, 20:] = 255
    Image.fromarray(pixels).save(tmp_path / "a.png")
    v = image_views(tmp_path / "a.png")
    assert v.strip is None and v.view.shape == (1, 10, 30)
    assert v.view[0, :, 25].min() == 255 and v.view[0, :, 5].max() == 0
    vol = np.zeros((1, 8, 12, 16), dtype=np.float32)
    vol[0, 3] = 1.0
    save_image(vol, tmp_path / "v.nii.gz")
    v = image_views(tmp_path / "v.nii.gz", depth_axis=0)
    assert v.view.shape == (1, 16, 12)  # rows: the second in-plane axis
    assert np.allclose(v.view, 1.0 / 8)
    assert v.strip.shape == (1, 16, 5 * 12 + 4)  # 5 slices and 4 one-pixel gaps
    one = np.zeros((1, 12, 16, 1), dtype=np.float32)  # a single-slice NIfTI: shown as its plane, whatever depth_axis
    one[0, :6] = 1.0
    save_image(one, tmp_path / "one.nii.gz")
    v = image_views(tmp_path / "one.nii.gz", depth_axis=0)
    assert v.strip is None and v.view.shape == (1, 16, 12) and v.view[0, :, :6].min() == 1.0
    with pytest.raises(InputError, match="does not exist"):
        image_views(tmp_path / "none.png")


def test_spec_from_folders(tmp_path):
    for name in ("s1", "s2"):
        d = tmp_path / name
        d.mkdir()
        save_image(np.zeros((1, 8, 8), np.uint8), d / "input.png")
        for m in ("good", "bad"):
            save_image(np.zeros((1, 8, 8), np.uint8), d / f"{m}.png")
    save_image(np.zeros((1, 8, 8), np.uint8), tmp_path / "s1" / "reference.png")
    spec = spec_from_folders({"s1": tmp_path / "s1", "s2": tmp_path / "s2"}, name="t")
    assert [sorted(s["outputs"]) for s in spec["sets"]] == [["bad", "good"], ["bad", "good"]]
    assert "reference" in spec["sets"][0] and "reference" not in spec["sets"][1]
    (tmp_path / "s2" / "input.png").unlink()
    with pytest.raises(InputError, match="set 's2': no input"):
        spec_from_folders({"s2": tmp_path / "s2"})
