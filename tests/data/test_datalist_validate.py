"""Datalist schema and loader: good datalists load with absolute paths; every kind of problem is named, all at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medtranslate.data import datalist_split, load_datalist, validate_datalist
from medtranslate.data.datalist import load_schema, write_datalist
from medtranslate.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def _touch(base: Path, *names: str) -> None:
    for name in names:
        (base / name).parent.mkdir(parents=True, exist_ok=True)
        (base / name).write_bytes(b"x")


def _write(path: Path, data) -> Path:
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    _touch(tmp_path, "a/1.nii.gz", "a/2.nii.gz", "a/3.nii.gz", "b/1.nii.gz", "b/2.nii.gz", "b/3.nii.gz")
    return tmp_path


GOOD = {
    "name": "t",
    "modality_a": "CT",
    "modality_b": "MR",
    "labels": [0, 1],
    "training": {
        "domain_a": [{"image": "a/1.nii.gz", "label": 0}, {"image": "a/2.nii.gz", "label": 1, "subject": "s2"}],
        "domain_b": [{"image": "b/1.nii.gz"}],
        "pairs": [{"a": "a/1.nii.gz", "b": "b/1.nii.gz"}],
    },
    "test": {"domain_a": [{"image": "a/3.nii.gz"}], "pairs": [{"a": "a/3.nii.gz", "b": "b/3.nii.gz"}]},
}


def test_schema_copies_are_identical():
    shipped = ROOT / "medtranslate" / "data" / "schemas" / "datalist.schema.json"
    spec = ROOT / "data_specs" / "datalist.schema.json"
    assert shipped.read_bytes() == spec.read_bytes()
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(load_schema())


@pytest.mark.parametrize("example", sorted((ROOT / "data_specs" / "examples").glob("*.json")), ids=lambda p: p.name)
def test_examples_follow_the_schema(example: Path):
    data = load_datalist(example, check_files=False)
    assert any(s in data for s in ("training", "validation", "test"))


def test_good_datalist_resolves_paths(tree: Path):
    path = _write(tree / "dl.json", GOOD)
    data = load_datalist(path)
    assert data["training"]["domain_a"][0]["image"] == str(tree / "a/1.nii.gz")
    assert data["training"]["pairs"][0] == {"a": str(tree / "a/1.nii.gz"), "b": str(tree / "b/1.nii.gz")}
    assert data["training"]["domain_a"][1]["subject"] == "s2"  # extra keys pass through
    assert GOOD["training"]["domain_a"][0]["image"] == "a/1.nii.gz"  # input not modified


def test_base_dir_overrides_the_datalist_folder(tree: Path, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("lists") / "dl.json"
    _write(elsewhere, GOOD)
    with pytest.raises(ConfigError, match="file not found"):
        load_datalist(elsewhere)
    assert load_datalist(elsewhere, base_dir=tree)["test"]["domain_a"][0]["image"] == str(tree / "a/3.nii.gz")


def test_every_problem_is_named_at_once(tree: Path):
    bad = {
        "name": "t",
        "trainig": {},  # typo
        "labels": {"0": "normal"},
        "training": {
            "domain_a": [
                {"image": "a/1.nii.gz"},
                {"image": "a/1.nii.gz"},  # duplicate
                {"image": "a/missing.nii.gz"},  # missing file
                {"image": 5},  # wrong type
                {"label": 0},  # no image
                {"image": "a/2.nii.gz", "label": 7},  # undeclared label
            ],
            "domain_b": [],  # empty domain
            "pairs": [{"a": "a/2.nii.gz", "b": "b/2.nii.gz"}, {"a": "a/2.nii.gz", "b": "b/2.nii.gz"}],
            "extra": [],  # unknown key in a split
        },
        "test": {"domain_a": [{"image": "a/1.nii.gz"}], "domain_b": [{"image": "a/3.nii.gz"}, {"image": "b/3.nii.gz"}]},
        "validation": {"domain_a": [{"image": "a/3.nii.gz"}]},
    }
    path = _write(tree / "bad.json", bad)
    with pytest.raises(ConfigError) as e:
        load_datalist(path)
    msg, problems = str(e.value), e.value.problems
    assert msg.startswith(f"{path}: invalid datalist, {len(problems)} problems")
    assert "\n" not in msg
    expected = [
        "$.trainig: unknown key 'trainig' (did you mean 'training'?)",
        "$.training.extra: unknown key 'extra'",
        "$.training.domain_a[1].image: duplicate of $.training.domain_a[0].image",
        "$.training.domain_a[2].image: file not found: a/missing.nii.gz",
        "$.training.domain_a[3].image: must be a string, not a number",
        "$.training.domain_a[4]: missing key 'image'",
        "$.training.domain_a[5].label: 7 is not one of the declared labels (0)",
        "$.training.domain_b: empty list",
        "$.training.pairs[1]: duplicate of $.training.pairs[0]",
        "$.test.domain_a[0].image: a/1.nii.gz is also in training",
        "$.test.domain_b[0].image: a/3.nii.gz is in both domain A and domain B",
        "$.test.domain_b[0].image: a/3.nii.gz is also in validation",
    ]
    for text in expected:
        assert any(p.startswith(text) for p in problems), (text, problems)


@pytest.mark.parametrize(
    "data, fragment",
    [
        ({"name": "x"}, "$: no split (give at least one of training, validation, test)"),
        ({"training": {}}, "$.training: empty split"),
        ({"training": []}, "$.training: must be an object, not an array"),
        ({"training": {"pairs": [{"a": "x"}]}}, "$.training.pairs[0]: missing key 'b'"),
        ({"labels": [], "test": {"domain_a": [{"image": "x"}]}}, "$.labels: must be a non-empty list"),
        ({"test": {"domain_a": [{"image": ""}]}}, "$.test.domain_a[0].image: empty string"),
        ([1, 2], "$: must be an object, not an array"),
    ],
)
def test_schema_violations_name_their_json_path(data, fragment):
    with pytest.raises(ConfigError) as e:
        validate_datalist(data, check_files=False, source="dl.json")
    assert fragment in str(e.value)
    assert str(e.value).startswith("dl.json: invalid datalist")


def test_unreadable_files(tmp_path: Path):
    with pytest.raises(ConfigError, match="datalist not found"):
        load_datalist(tmp_path / "none.json")
    with pytest.raises(ConfigError, match=r"not valid JSON: .* line 1 column"):
        load_datalist(_write(tmp_path / "broken.json", '{"training": '))


def test_many_problems_stay_one_readable_line(tmp_path: Path):
    data = {"training": {"domain_a": [{"image": f"missing_{i}.png"} for i in range(50)]}}
    with pytest.raises(ConfigError) as e:
        load_datalist(_write(tmp_path / "dl.json", data))
    assert len(e.value.problems) == 50
    assert "... and 30 more" in str(e.value)


def test_check_files_false_skips_existence_only(tmp_path: Path):
    data = {"training": {"domain_a": [{"image": "nope.nii.gz"}, {"image": "nope.nii.gz"}]}}
    with pytest.raises(ConfigError, match="duplicate") as e:
        load_datalist(_write(tmp_path / "dl.json", data), check_files=False)
    assert "file not found" not in str(e.value)


def test_datalist_split(tree: Path):
    path = _write(tree / "dl.json", GOOD)
    data = load_datalist(path)
    items = datalist_split(data, "training", "domain_a")
    assert [Path(i["image"]).name for i in items] == ["1.nii.gz", "2.nii.gz"]
    items[0]["image"] = "changed"
    assert data["training"]["domain_a"][0]["image"] != "changed"  # a copy
    assert datalist_split(path, "test", "pairs")[0]["b"] == str(tree / "b/3.nii.gz")  # from a path
    assert datalist_split(data, "validation", "domain_a", missing_ok=True) == []
    with pytest.raises(ConfigError, match=r"has no test.domain_b \(it has: training.domain_a"):
        datalist_split(data, "test", "domain_b")
    with pytest.raises(ConfigError, match="unknown split 'train'"):
        datalist_split(data, "train", "domain_a")
    with pytest.raises(ConfigError, match="unknown domain 'a'"):
        datalist_split(data, "training", "a")


def test_ground_truth_paths_resolve_and_must_exist(tmp_path):
    (tmp_path / "img.nii.gz").write_bytes(b"x")
    (tmp_path / "gt.nii.gz").write_bytes(b"x")
    data = {"training": {"domain_a": [{"image": "img.nii.gz", "ground_truth": "gt.nii.gz"}]}}
    resolved = validate_datalist(data, base_dir=tmp_path)
    assert resolved["training"]["domain_a"][0]["ground_truth"] == str(tmp_path / "gt.nii.gz")
    written = write_datalist(resolved, tmp_path / "datalist.json")
    assert '"ground_truth": "gt.nii.gz"' in written.read_text()  # stored relative, like the images
    missing = {"training": {"domain_a": [{"image": "img.nii.gz", "ground_truth": "nope.nii.gz"}]}}
    with pytest.raises(ConfigError, match=r"domain_a\[0\]\.ground_truth: file not found: nope.nii.gz"):
        validate_datalist(missing, base_dir=tmp_path)
