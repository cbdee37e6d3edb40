"""Seed 002 sample data: OCT B-scans per retinal class, class lesions in fundus photographs, the fundus_oct data set,
and the class helpers (class index, one-class selection, teacher / student class checks)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from medtranslate.data import datalist_split, load_datalist
from medtranslate.data.classes import check_shared_classes, class_index, class_names, select_classes
from medtranslate.data.samples import RETINA_CLASSES, fundus_image, oct_bscan, write_sample_dataset
from medtranslate.errors import ConfigError


@pytest.mark.parametrize("label", RETINA_CLASSES)
def test_bscan_is_deterministic_and_layered(label):
    a, bounds, lesions = oct_bscan((64, 48), seed=3, label=label)
    b, _, _ = oct_bscan((64, 48), seed=3, label=label)
    assert a.shape == (64, 48) and a.dtype == np.float32 and np.array_equal(a, b)
    assert 0.0 <= a.min() and a.max() <= 1.0
    assert bounds.shape[1] == 48 and np.all(np.diff(bounds, axis=0) >= -1e-4)  # boundaries ordered in depth
    assert (lesions.any()) == (label != "NORMAL")
    inside = a[int(bounds[0].max()) + 2 : int(bounds[-3].min()) - 2].mean()
    assert inside > 1.5 * a[: int(bounds[0].min()) - 2].mean()  # retina brighter than the vitreous


def test_drusen_lift_the_rpe_and_bad_label():
    _, normal, _ = oct_bscan((96, 96), seed=5, label="NORMAL")
    _, drusen, mask = oct_bscan((96, 96), seed=5, label="DRUSEN")
    rpe = len(normal) - 3  # upper RPE boundary
    assert (normal[rpe] - drusen[rpe]).max() > 1.5  # a dome lifts the RPE by pixels
    assert mask.any()
    with pytest.raises(ValueError, match="unknown retinal class"):
        oct_bscan((64, 64), 0, "GLAUCOMA")


def test_fundus_lesions_keep_normal_eyes_identical():
    plain, vessels = fundus_image((64, 64), 7)
    normal, vessels2, lesions = fundus_image((64, 64), 7, "NORMAL", lesion_mask=True)
    assert np.array_equal(plain, normal) and np.array_equal(vessels, vessels2) and not lesions.any()
    drusen, _, mask = fundus_image((64, 64), 7, "DRUSEN", lesion_mask=True)
    assert mask.any() and not np.array_equal(drusen, normal)
    with pytest.raises(ValueError, match="unknown retinal class"):
        fundus_image((64, 64), 7, "X")


def test_fundus_oct_dataset_is_paired_and_labelled(tmp_path):
    path = write_sample_dataset(tmp_path, "fundus_oct", n=8, seed=0, shape=(32, 32))
    dl = load_datalist(path)
    assert dl["labels"] == list(RETINA_CLASSES)
    pairs = datalist_split(dl, "training", "pairs") + datalist_split(dl, "test", "pairs")
    assert len(pairs) == 8
    for pair in pairs:  # the two images of one eye share its class (the folder) and its name
        assert pair["label"] in pair["a"] and pair["label"] in pair["b"]
        assert pair["a"].rsplit("/", 1)[1] == pair["b"].rsplit("/", 1)[1]
    assert (tmp_path / "oct_lesions" / "DRUSEN").is_dir()


def _dl(tmp_path, labels=("NORMAL", "DRUSEN")):
    return {"labels": list(labels)}


def test_class_index_and_unknown_label():
    dl = {"labels": {"0": "NORMAL", "1": "DRUSEN"}}
    items = class_index([{"image": "a.png", "label": "DRUSEN"}, {"image": "b.png", "label": "0"}], dl)
    assert [i["class"] for i in items] == [1, 0] and class_names(dl) == ["NORMAL", "DRUSEN"]
    with pytest.raises(ConfigError, match=r"c\.png: class label 'CNV' is not in the class list \(NORMAL, DRUSEN\)"):
        class_index([{"image": "c.png", "label": "CNV"}], dl, source="dl.json")
    with pytest.raises(ConfigError, match="no class list"):
        class_index([{"image": "c.png", "label": "CNV"}], {})


def test_select_classes_drusen_only_and_empty_class(tmp_path):
    dl = {"labels": ["NORMAL", "DRUSEN", "CNV"]}
    items = [{"image": f"{c}{i}.png", "label": c} for i, c in enumerate(["NORMAL", "DRUSEN", "DRUSEN"])]
    kept = select_classes(items, ["DRUSEN"], dl)
    assert [k["image"] for k in kept] == ["DRUSEN1.png", "DRUSEN2.png"]
    assert len(select_classes(items, None, dl)) == 3
    with pytest.raises(ConfigError, match="class CNV has no fundus images: the class is empty"):
        select_classes(items, "CNV", dl, "fundus images")
    with pytest.raises(ConfigError, match="'GA' .* is not in the class list"):
        select_classes(items, ["GA"], dl)


def test_teacher_and_student_classes_must_match():
    dl = {"labels": ["NORMAL", "DRUSEN", "CNV"]}
    t = [{"class": 0}, {"class": 1}, {"class": 2}]
    assert check_shared_classes(t, list(t), dl) == ["NORMAL", "DRUSEN", "CNV"]
    with pytest.raises(
        ConfigError, match=r"teacher and student classes differ \(teacher only: CNV; student only: none\)"
    ):
        check_shared_classes(t, t[:2], dl)
    with pytest.raises(ConfigError, match="class CNV has no images .* the class is empty"):
        check_shared_classes(t[:2], t[:2], dl)


def test_datalist_json_written_is_valid(tmp_path):
    path = write_sample_dataset(tmp_path, "fundus_oct", n=4, seed=1, shape=(32, 32))
    data = json.loads(path.read_text())
    assert {i["label"] for s in ("training", "test") for i in data.get(s, {}).get("domain_a", [])} <= set(
        RETINA_CLASSES
    )


def test_class_matched_dataset_pairs_by_class_and_epoch():
    import torch

    from medtranslate.data.class_matched import ClassMatchedDataset
    from medtranslate.errors import InputError

    student = [{"image": torch.full((1, 2, 2), float(i)), "class": i % 2} for i in range(6)]
    teacher = [{"image": torch.full((1, 2, 2), 100.0 + j), "class": j % 2} for j in range(10)]
    ds = ClassMatchedDataset(student, teacher, seed=3)
    seen = set()
    for epoch in range(4):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            item = ds[i]
            partner = int(item["teacher_image"][0, 0, 0]) - 100
            assert partner % 2 == int(item["label"]) == i % 2  # the teacher image is of the student's class
            seen.add((i, partner))
    assert len(seen) > len(ds)  # partners change with the epoch
    ds.set_epoch(1)
    assert torch.equal(ds[2]["teacher_image"], ds[2]["teacher_image"])  # reproducible
    with pytest.raises(InputError, match="have no teacher images"):
        ClassMatchedDataset(student, [t for t in teacher if t["class"] == 0])
