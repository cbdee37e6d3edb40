"""write_sample_dataset: files that standard readers open, with geometry, and a datalist that follows the schema."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from medtranslate.data import datalist_split, load_datalist, validate_datalist
from medtranslate.data.samples import SAMPLE_KINDS, ct_head, head_affine, oct_volume, write_sample_dataset
from medtranslate.errors import ConfigError
from medtranslate.metrics.projection import en_face_projection
from medtranslate.metrics.structure import vessel_dice

SMALL = {"ct_mr": (20, 20, 16), "oct_confocal": (16, 32, 32), "fundus": (48, 48), "fundus_oct": (32, 32)}


def _read(path: str) -> np.ndarray:
    if path.endswith(".nii.gz"):
        import nibabel as nib

        return np.asarray(nib.load(path).dataobj)
    if path.endswith(".tif"):
        import tifffile

        return tifffile.imread(path)
    from PIL import Image

    return np.asarray(Image.open(path))


@pytest.mark.parametrize("kind", sorted(SAMPLE_KINDS))
def test_dataset_follows_the_schema_and_reads_back(kind: str, tmp_path: Path):
    path = write_sample_dataset(tmp_path / kind, kind, n=3, seed=1, shape=SMALL[kind])
    assert path == tmp_path / kind / "datalist.json"
    raw = json.loads(path.read_text())
    validate_datalist(raw, base_dir=path.parent)  # relative paths, files present
    assert all(not Path(i["image"]).is_absolute() for i in raw["training"]["domain_a"])
    data = load_datalist(path)
    modality_a, modality_b, paired = SAMPLE_KINDS[kind]
    assert (data["modality_a"], data["modality_b"]) == (modality_a, modality_b)
    assert {len(data["training"]["domain_a"]), len(data["test"]["domain_a"])} == {2, 1}  # 70/30 of 3
    for split in ("training", "test"):
        assert ("pairs" in data[split]) == paired
        for item in data[split]["domain_a"] + data[split]["domain_b"]:
            assert _read(item["image"]).size > 0
    if paired:
        pair = datalist_split(data, "training", "pairs")[0]
        assert Path(pair["a"]).name == Path(pair["b"]).name


def test_ct_mr_files_hold_hu_and_geometry(tmp_path: Path):
    import nibabel as nib

    path = write_sample_dataset(tmp_path, "ct_mr", n=1, seed=2, shape=(20, 20, 16))
    pair = datalist_split(load_datalist(path), "training", "pairs")[0]
    ct, mr = nib.load(pair["a"]), nib.load(pair["b"])
    assert ct.get_data_dtype() == np.int16 and mr.get_data_dtype() == np.int16
    assert np.allclose(ct.affine, head_affine((20, 20, 16))) and np.allclose(mr.affine, ct.affine)
    assert nib.aff2axcodes(ct.affine) == ("R", "A", "S")
    hu = np.asarray(ct.dataobj)
    assert hu.min() < -900 and hu.max() > 700
    assert b"CT phantom" in ct.header["descrip"].tobytes()
    from medtranslate.data.samples.dataset import _item_seed

    assert np.array_equal(hu, np.round(ct_head((20, 20, 16), _item_seed(2, "ct_mr", 0, 0))).astype(np.int16))


def test_confocal_tiff_and_fundus_png_layouts(tmp_path: Path):
    import tifffile

    dl = load_datalist(write_sample_dataset(tmp_path / "oc", "oct_confocal", n=1, shape=(16, 32, 32)))
    with tifffile.TiffFile(dl["training"]["domain_b"][0]["image"]) as tif:
        assert tif.series[0].axes == "ZYXS" and tif.series[0].shape == (9, 32, 32, 3)
        assert tif.imagej_metadata["unit"] == "um"
    dl = load_datalist(write_sample_dataset(tmp_path / "f", "fundus", n=1, shape=(48, 48)))
    pair = dl["training"]["pairs"][0]
    mask, image = _read(pair["a"]), _read(pair["b"])
    assert mask.shape == (48, 48) and set(np.unique(mask)) <= {0, 255}
    assert image.shape == (48, 48, 3) and image.dtype == np.uint8


def test_same_seed_same_images_and_only_written_files_listed(tmp_path: Path):
    first = load_datalist(write_sample_dataset(tmp_path / "a", "fundus", n=2, seed=4, shape=(48, 48)))
    second = load_datalist(write_sample_dataset(tmp_path / "b", "fundus", n=2, seed=4, shape=(48, 48)))
    other = load_datalist(write_sample_dataset(tmp_path / "c", "fundus", n=2, seed=5, shape=(48, 48)))
    img = lambda dl: _read(dl["training"]["pairs"][0]["b"])  # noqa: E731
    assert np.array_equal(img(first), img(second)) and not np.array_equal(img(first), img(other))
    # a smaller rerun into the same folder lists only what it wrote
    smaller = load_datalist(write_sample_dataset(tmp_path / "a", "fundus", n=1, seed=4, shape=(48, 48)))
    assert len(smaller["training"]["pairs"]) == 1 and "test" not in smaller


def test_bad_arguments(tmp_path: Path):
    with pytest.raises(ConfigError, match="unknown sample kind 'xray'"):
        write_sample_dataset(tmp_path, "xray")
    with pytest.raises(ConfigError, match="n must be at least 1"):
        write_sample_dataset(tmp_path, "fundus", n=0)


def test_oct_items_carry_their_vessel_tree_as_ground_truth(tmp_path: Path):
    path = write_sample_dataset(tmp_path, "oct_confocal", n=2, seed=0, shape=(24, 48, 48))
    raw = json.loads(path.read_text())
    items = [i for s in ("training", "test") for i in raw.get(s, {}).get("domain_a", [])]
    assert all(i["ground_truth"].startswith("vessels/") for i in items)  # relative, beside the images
    assert not any("ground_truth" in i for s in ("training", "test") for i in raw.get(s, {}).get("domain_b", []))
    item = datalist_split(load_datalist(path), "training", "domain_a")[0]
    oct_image, mask = _read(item["image"]), _read(item["ground_truth"])
    assert mask.shape == oct_image.shape[1:] and set(np.unique(mask)) == {0, 1}
    # it is the tree that casts the OCT's shadows: the dark structure of the en-face projection matches it
    assert vessel_dice(en_face_projection(oct_image.astype(np.float32), axis=0), mask, invert=True) > 0.7
    img, vessels = oct_volume((24, 48, 48), 5, return_vessels=True)
    img2, bounds, vessels2 = oct_volume((24, 48, 48), 5, return_layers=True, return_vessels=True)
    assert np.array_equal(img, img2) and np.array_equal(vessels, vessels2) and vessels.dtype == bool
    assert bounds.shape[1:] == vessels.shape == (48, 48)
