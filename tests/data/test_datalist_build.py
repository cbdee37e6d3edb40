"""Building datalists from folders: sorted, deterministic, seeded splits, pairing, labels, DICOM folders, writing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medtranslate.data import find_images, load_datalist, make_datalist, split_indices, write_datalist
from medtranslate.errors import ConfigError


def _touch(base: Path, *names: str) -> None:
    for name in names:
        (base / name).parent.mkdir(parents=True, exist_ok=True)
        (base / name).write_bytes(b"x")


def _dicom(path: Path, series_uid: str) -> None:
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SeriesInstanceUID = series_uid
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def test_split_indices_counts_and_determinism():
    split = split_indices(10, (0.7, 0.3), seed=3)
    assert {k: len(v) for k, v in split.items()} == {"training": 7, "test": 3}
    assert sorted(split["training"] + split["test"]) == list(range(10))
    assert split == split_indices(10, (0.7, 0.3), seed=3)
    assert split != split_indices(10, (0.7, 0.3), seed=4)
    three = split_indices(10, (0.6, 0.2, 0.2), seed=0)
    assert {k: len(v) for k, v in three.items()} == {"training": 6, "validation": 2, "test": 2}
    small = split_indices(2, {"training": 0.9, "test": 0.1})
    assert {k: len(v) for k, v in small.items()} == {"training": 1, "test": 1}  # every split gets one when it can
    assert split_indices(1, (0.7, 0.3)) == {"training": [0]}


@pytest.mark.parametrize(
    "fractions, fragment",
    [((0.5, 0.4), "sum to 1"), ((1.2, -0.2), ">= 0"), ((1.0,), r"2 \(train, test\) or 3"), ({"train": 1.0}, "'train'")],
)
def test_split_indices_rejects_bad_fractions(fractions, fragment):
    with pytest.raises(ConfigError, match=fragment):
        split_indices(5, fractions)


def test_find_images_sorted_with_dicom_series(tmp_path: Path):
    _touch(tmp_path, "b.nii.gz", "a.png", "sub/c.tif", "notes.txt", ".hidden.nii", "x.mt-tmp.nii.gz")
    _dicom(tmp_path / "dcm_one" / "IM0001", "1.2.3.1")
    _dicom(tmp_path / "dcm_one" / "IM0002", "1.2.3.1")
    _dicom(tmp_path / "dcm_two" / "1.dcm", "1.2.3.1")
    _dicom(tmp_path / "dcm_two" / "2.dcm", "1.2.3.2")
    items = find_images(tmp_path)
    rel = [(Path(i["image"]).relative_to(tmp_path).as_posix(), i.get("series_uid")) for i in items]
    assert rel == [
        ("a.png", None),
        ("b.nii.gz", None),
        ("dcm_one", None),
        ("dcm_two", "1.2.3.1"),
        ("dcm_two", "1.2.3.2"),
        ("sub/c.tif", None),
    ]
    assert find_images(tmp_path, recursive=False) == [items[0], items[1]]
    with pytest.raises(ConfigError, match="no such file or folder"):
        find_images(tmp_path / "nope")


def test_make_datalist_unpaired_split_is_seeded(tmp_path: Path):
    _touch(tmp_path, *[f"ct/{i:02d}.nii.gz" for i in range(10)], *[f"mr/{i:02d}.nii.gz" for i in range(6)])
    dl = make_datalist(tmp_path / "ct", tmp_path / "mr", split=(0.7, 0.3), seed=3, modality_a="CT", name="x")
    assert list(dl) == ["name", "modality_a", "training", "test"]
    assert len(dl["training"]["domain_a"]) == 7 and len(dl["test"]["domain_a"]) == 3
    assert len(dl["training"]["domain_b"]) == 4 and len(dl["test"]["domain_b"]) == 2
    names = [Path(i["image"]).name for i in dl["training"]["domain_a"]]
    assert names == sorted(names)
    assert dl == make_datalist(tmp_path / "ct", tmp_path / "mr", split=(0.7, 0.3), seed=3, modality_a="CT", name="x")
    assert dl != make_datalist(tmp_path / "ct", tmp_path / "mr", split=(0.7, 0.3), seed=4, modality_a="CT", name="x")
    assert "test" not in make_datalist(tmp_path / "ct")  # no split: everything is training


def test_make_datalist_paired_and_labels(tmp_path: Path):
    names = [f"{c}/{i}.png" for c in ("drusen", "normal") for i in range(3)]
    _touch(tmp_path, *[f"a/{n}" for n in names], *[f"b/{n}" for n in names])
    dl = make_datalist(tmp_path / "a", tmp_path / "b", paired=True, split=(0.5, 0.5), labels_from_folders=True)
    assert dl["labels"] == ["drusen", "normal"]
    for split in ("training", "test"):
        for pair in dl[split]["pairs"]:
            assert Path(pair["a"]).relative_to(tmp_path / "a") == Path(pair["b"]).relative_to(tmp_path / "b")
            assert pair["label"] == Path(pair["a"]).parent.name
        assert [p["a"] for p in dl[split]["pairs"]] == [i["image"] for i in dl[split]["domain_a"]]
    _touch(tmp_path, "b/normal/9.png")
    with pytest.raises(ConfigError, match=r"1 image\(s\) have no partner: normal/9"):
        make_datalist(tmp_path / "a", tmp_path / "b", paired=True)
    _touch(tmp_path, "a/loose.png")
    with pytest.raises(ConfigError, match="inside a class folder"):
        make_datalist(tmp_path / "a", labels_from_folders=True)


def test_make_datalist_errors(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="domain_a: no images found"):
        make_datalist(tmp_path / "empty")
    with pytest.raises(ConfigError, match="needs domain_a and/or domain_b"):
        make_datalist()
    with pytest.raises(ConfigError, match="needs both"):
        _touch(tmp_path, "a/1.png")
        make_datalist(tmp_path / "a", paired=True)


def test_write_datalist_relative_and_loadable(tmp_path: Path, tmp_path_factory):
    _touch(tmp_path, "a/1.png", "a/2.png", "b/1.png", "b/2.png")
    outside = tmp_path_factory.mktemp("outside")
    _touch(outside, "far.png")
    dl = make_datalist([tmp_path / "a", outside / "far.png"], tmp_path / "b", description="d")
    path = write_datalist(dl, tmp_path / "dl.json")
    raw = json.loads(path.read_text())
    images = [i["image"] for i in raw["training"]["domain_a"]]
    assert images == ["a/1.png", "a/2.png", str(outside / "far.png")]  # outside the datalist's folder: absolute
    assert load_datalist(path) == dl  # resolves back to the same absolute paths
    assert not list(path.parent.glob("*.mt-tmp*"))
    with pytest.raises(ConfigError, match="invalid datalist"):
        write_datalist({"training": {}}, tmp_path / "bad.json")
    assert not (tmp_path / "bad.json").exists()
