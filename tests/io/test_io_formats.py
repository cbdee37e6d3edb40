"""NIfTI, NRRD, MetaImage, TIFF and PNG/JPEG: round trips in 2D and 3D, grayscale and RGB, and real files."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import tifffile
import torch
from io_helpers import NIB_DATA
from monai.data import MetaTensor

from medtranslate.errors import InputError, OutputError
from medtranslate.io import load_image, save_image

AFFINE_3D = np.array([[0.0, -0.8, 0.1, 12.5], [0.7, 0.0, 0.0, -3.0], [0.0, 0.05, 2.2, 40.0], [0, 0, 0, 1.0]])
AFFINE_2D = np.array([[0.0, -0.8, 0.0, 12.5], [0.7, 0.0, 0.0, -3.0], [0.0, 0.0, 1.0, 0.0], [0, 0, 0, 1.0]])


def _image(spatial: int, channels: int, dtype=torch.float32) -> MetaTensor:
    shape = (channels, 6, 5, 4)[: spatial + 1]
    g = torch.Generator().manual_seed(spatial * 10 + channels)
    data = torch.rand(shape, generator=g) * 200 - 50
    data = data.round().to(dtype) if not dtype.is_floating_point else data.to(dtype)
    affine = AFFINE_3D if spatial == 3 else AFFINE_2D
    return MetaTensor(data, affine=torch.as_tensor(affine))


@pytest.mark.parametrize("spatial", [2, 3], ids=["2d", "3d"])
@pytest.mark.parametrize("channels", [1, 3], ids=["gray", "rgb"])
@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha", ".tif"])
def test_round_trip_values_and_geometry(tmp_path, suffix, spatial, channels):
    img = _image(spatial, channels)
    if suffix in (".nrrd", ".mha") and spatial == 3:
        img.affine[:3, 2] = torch.tensor([0.0, 0.0, 2.2], dtype=torch.float64)  # ITK stores no shear
    out = save_image(img, tmp_path / f"x{suffix}")
    back = load_image(out)
    if suffix.startswith(".nii") and channels == 3 and spatial == 2:
        back = back[..., 0]  # NIfTI keeps vector voxels in dimension 5: a 2D RGB image comes back with Z = 1
    assert back.shape == img.shape, suffix
    np.testing.assert_allclose(back.numpy(), img.numpy(), rtol=0, atol=1e-5)
    np.testing.assert_allclose(back.affine.numpy()[:3, :spatial], img.affine.numpy()[:3, :spatial], atol=1e-5)
    np.testing.assert_allclose(back.affine.numpy()[:3, 3][:spatial], img.affine.numpy()[:3, 3][:spatial], atol=1e-5)
    assert back.meta["mt_format"] in ("nifti", "nrrd", "mha", "tiff")


@pytest.mark.parametrize("suffix", [".nii.gz", ".tif", ".nrrd"])
def test_rgb_uint8_and_two_channel_volumes_round_trip(tmp_path, suffix):
    rgb = MetaTensor(torch.randint(0, 256, (3, 6, 5, 4), dtype=torch.uint8), affine=torch.as_tensor(AFFINE_3D))
    if suffix == ".nrrd":
        rgb.affine[:3, 2] = torch.tensor([0.0, 0.0, 2.2], dtype=torch.float64)
    back = load_image(save_image(rgb, tmp_path / f"rgb{suffix}"))
    assert back.dtype == torch.uint8 and torch.equal(back.as_tensor(), rgb.as_tensor())
    np.testing.assert_allclose(back.affine.numpy(), rgb.affine.numpy(), atol=1e-5)
    two = MetaTensor(torch.rand(2, 6, 5, 4), affine=rgb.affine.clone())  # a two-channel confocal stack
    back = load_image(save_image(two, tmp_path / f"two{suffix}"))
    assert back.shape == two.shape
    np.testing.assert_allclose(back.numpy(), two.numpy(), atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.int16, torch.uint8, torch.int32])
def test_integer_types_are_kept(tmp_path, dtype):
    img = _image(3, 1, torch.int16).clamp(0, 100).to(dtype)
    back = load_image(save_image(img, tmp_path / "i.nii.gz"))
    assert back.dtype == dtype
    assert torch.equal(back.as_tensor(), img.as_tensor())


def test_nifti_descrip_marks_synthetic(tmp_path):
    out = save_image(_image(3, 1), tmp_path / "s.nii.gz", synthetic=True, description="pix2pix")
    descrip = nib.load(out).header["descrip"].item().decode()
    assert descrip.startswith("SYNTHETIC") and "pix2pix" in descrip
    out = save_image(_image(3, 1), tmp_path / "c.nii.gz")
    assert "converted by medtranslate" in nib.load(out).header["descrip"].item().decode().lower()


REAL_NIFTI = ["anatomical.nii", "reoriented_anat_moved.nii", "standard.nii.gz", "resampled_anat_moved.nii"]


@pytest.mark.parametrize("name", REAL_NIFTI)
def test_real_nifti_files_match_nibabel(name):
    ref = nib.load(NIB_DATA / name)
    img = load_image(NIB_DATA / name)
    expected = np.asanyarray(ref.dataobj)
    assert img.shape == (1, *expected.shape)
    np.testing.assert_array_equal(img.numpy()[0], expected)
    np.testing.assert_allclose(img.affine.numpy(), ref.affine, atol=1e-6)
    np.testing.assert_allclose(img.meta["spacing"], ref.header.get_zooms()[:3], rtol=1e-6)


def test_imagej_hyperstack_channels_and_spacing(tmp_path):
    data = np.random.default_rng(0).integers(0, 4000, (5, 2, 7, 6), dtype=np.uint16)  # Z C Y X
    path = tmp_path / "confocal.tif"
    meta = {"axes": "ZCYX", "spacing": 2.0, "unit": "micron"}
    tifffile.imwrite(path, data, imagej=True, resolution=(1 / 0.25, 1 / 0.5), metadata=meta)
    img = load_image(path)
    assert img.shape == (2, 6, 7, 5)
    np.testing.assert_array_equal(img.numpy(), data.transpose(1, 3, 2, 0))
    np.testing.assert_allclose(img.meta["spacing"], [0.25e-3, 0.5e-3, 2.0e-3], rtol=1e-6)


def test_rgb_z_stack_and_ome_spacing(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 255, (4, 7, 6, 3), dtype=np.uint8)  # Z Y X S
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    img = load_image(tmp_path / "rgb.tif")
    assert img.shape == (3, 6, 7, 4)
    np.testing.assert_array_equal(img.numpy(), rgb.transpose(3, 2, 1, 0))
    stack = np.zeros((3, 7, 6), dtype=np.float32)
    ome_meta = {"axes": "ZYX", "PhysicalSizeX": 0.2, "PhysicalSizeY": 0.3, "PhysicalSizeZ": 1.5}
    tifffile.imwrite(tmp_path / "s.ome.tif", stack, ome=True, metadata=ome_meta)
    ome = load_image(tmp_path / "s.ome.tif")
    assert ome.shape == (1, 6, 7, 3)
    np.testing.assert_allclose(ome.meta["spacing"], [0.2e-3, 0.3e-3, 1.5e-3], rtol=1e-6)


def test_written_tiff_is_imagej_calibrated(tmp_path):
    img = MetaTensor(torch.rand(1, 6, 5, 4), affine=torch.diag(torch.tensor([0.0004, 0.0005, 0.002, 1.0])))
    out = save_image(img, tmp_path / "stack.tif")
    with tifffile.TiffFile(out) as tif:
        assert tif.is_imagej and tif.series[0].axes == "ZYX"
        assert tif.imagej_metadata["unit"] == "micron" and tif.imagej_metadata["spacing"] == pytest.approx(2.0)
        x_res = tif.pages.first.tags["XResolution"].value
        assert x_res[0] / x_res[1] == pytest.approx(1 / 0.4)


@pytest.mark.parametrize("channels", [1, 3], ids=["gray", "rgb"])
def test_png_round_trip_and_3d_refused(tmp_path, channels):
    data = torch.randint(0, 256, (channels, 9, 7), dtype=torch.uint8)
    back = load_image(save_image(MetaTensor(data), tmp_path / "p.png"))
    assert back.shape == data.shape and torch.equal(back.as_tensor(), data)
    assert back.meta["mt_format"] == "png"
    with pytest.raises(OutputError, match="2D images only") as e:
        save_image(torch.zeros(channels, 4, 4, 3), tmp_path / "v.png")
    assert str(tmp_path / "v.png") in str(e.value) and not (tmp_path / "v.png").exists()


def test_png_16bit_and_float_rules(tmp_path):
    wide = torch.arange(0, 63 * 1000, 1000, dtype=torch.int32).reshape(1, 9, 7)
    back = load_image(save_image(wide, tmp_path / "w.png"))
    assert torch.equal(back.as_tensor().to(torch.int32), wide)  # 16-bit PNG keeps the integers
    unit = torch.rand(3, 5, 4)
    back = load_image(save_image(unit, tmp_path / "u.png"))
    assert back.dtype == torch.uint8 and float((back / 255.0 - unit).abs().max()) <= 0.5 / 255 + 1e-6


def test_jpeg_reads_and_writes(tmp_path):
    data = torch.full((3, 16, 8), 120, dtype=torch.uint8)
    back = load_image(save_image(data, tmp_path / "j.jpg"))
    assert back.shape == data.shape and back.meta["mt_format"] == "jpeg"
    assert float((back.float() - 120).abs().max()) <= 2


def test_unknown_output_format_and_bad_shape(tmp_path):
    with pytest.raises(OutputError, match="unknown output format"):
        save_image(torch.zeros(1, 4, 4), tmp_path / "x.xyz")
    with pytest.raises(OutputError, match="channel-first"):
        save_image(torch.zeros(4, 4), tmp_path / "x.nii.gz")
    with pytest.raises(OutputError, match="1 \\(grayscale\\) or 3"):
        save_image(torch.zeros(2, 4, 4), tmp_path / "x.png")


def test_4d_nifti_refused():
    with pytest.raises(InputError, match="4D") as e:
        load_image(NIB_DATA / "example4d.nii.gz")
    assert "example4d.nii.gz" in str(e.value) and "\n" not in str(e.value)
