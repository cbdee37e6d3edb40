"""Write a small sample data set (images + datalist) of one kind to disk, reproducibly."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
import tifffile
from PIL import Image

from medtranslate.data.datalist import make_datalist, write_datalist
from medtranslate.data.samples.confocal import confocal_stack
from medtranslate.data.samples.fundus import fundus_image
from medtranslate.data.samples.head import ct_head, head_affine, mr_head
from medtranslate.data.samples.oct import oct_volume
from medtranslate.data.samples.oct_bscan import RETINA_CLASSES, oct_bscan
from medtranslate.errors import ConfigError
from medtranslate.utils.atomic import atomic_path

__all__ = ["SAMPLE_KINDS", "DEFAULT_SHAPES", "OCT_FOV_MM", "CONFOCAL_FOV_UM", "VESSEL_MASK_DIR", "write_sample_dataset"]

#: The data sets :func:`write_sample_dataset` can write: (domain A, domain B, paired).
SAMPLE_KINDS: dict[str, tuple[str, str, bool]] = {
    "ct_mr": ("CT", "MR", True),
    "oct_confocal": ("OCT", "confocal", False),
    "fundus": ("vessel map", "fundus", True),
    "fundus_oct": ("fundus", "OCT", True),
}
#: Default main shape per kind: ct_mr (X, Y, Z); oct_confocal the OCT's (depth, H, W); fundus (H, W).
DEFAULT_SHAPES: dict[str, tuple[int, ...]] = {
    "ct_mr": (64, 64, 32),
    "oct_confocal": (48, 96, 96),
    "fundus": (256, 256),
    "fundus_oct": (256, 256),
}
#: OCT field of view (depth, height, width) in millimetres (a mouse retina scan centred on the optic disc).
OCT_FOV_MM: tuple[float, float, float] = (0.6, 1.2, 1.2)
#: Confocal lateral field of view in micrometres: each flat-mount is imaged over the same disc-centred field as its
#: eye's OCT; the z-step is 1.5 lateral pixels.
CONFOCAL_FOV_UM: float = 1000.0 * OCT_FOV_MM[1]
CONFOCAL_SLICES = 9
#: Sub-folder of an ``oct_confocal`` data set holding each OCT eye's vessel mask (its datalist ``ground_truth``).
VESSEL_MASK_DIR = "vessels"


def _item_seed(seed: int, kind: str, domain: int, index: int) -> int:
    entropy = [int(seed), list(SAMPLE_KINDS).index(kind), domain, index]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def _write_nifti(array: np.ndarray, affine: np.ndarray, path: Path, description: str) -> None:
    img = nib.Nifti1Image(array, affine)
    img.header.set_xyzt_units("mm")
    img.header.set_qform(affine, code=1)
    img.header.set_sform(affine, code=1)
    img.header["descrip"] = description.encode("ascii")[:79]
    with atomic_path(path) as tmp:
        nib.save(img, tmp)


def _write_tiff_rgb(stack: np.ndarray, path: Path, pixel_um: float, z_um: float) -> None:
    with atomic_path(path) as tmp:  # ImageJ hyperstack, RGB samples last (Z, Y, X, S), calibrated in micrometres
        tifffile.imwrite(
            tmp,
            stack,
            imagej=True,
            photometric="rgb",
            resolution=(1.0 / pixel_um, 1.0 / pixel_um),
            metadata={"axes": "ZYXS", "spacing": z_um, "unit": "um"},
        )


def _write_png(array: np.ndarray, path: Path) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.round(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


def _ct_mr(out: Path, i: int, seed: int, shape: Sequence[int]) -> tuple[Path, Path, dict[str, Path]]:
    s = _item_seed(seed, "ct_mr", 0, i)  # one seed per subject: the CT and the MR share its anatomy
    affine = head_affine(shape)
    ct = np.round(ct_head(shape, s)).astype(np.int16)
    mr = np.round(mr_head(shape, s)).astype(np.int16)
    a, b = out / "ct" / f"subject_{i:03d}.nii.gz", out / "mr" / f"subject_{i:03d}.nii.gz"
    _write_nifti(ct, affine, a, f"medtranslate sample CT phantom (HU) seed {s}")
    _write_nifti(mr, affine, b, f"medtranslate sample T1 MR phantom seed {s}")
    return a, b, {}  # the ground truth of a CT is its paired MR (the datalist's pairs)


def _oct_confocal(out: Path, i: int, seed: int, shape: Sequence[int]) -> tuple[Path, Path, dict[str, Path]]:
    d, h, w = shape
    s_oct, s_conf = _item_seed(seed, "oct_confocal", 0, i), _item_seed(seed, "oct_confocal", 1, i)
    affine = np.diag([*(f / n for f, n in zip(OCT_FOV_MM, shape)), 1.0])
    desc = f"medtranslate sample OCT (depth, H, W) seed {s_oct}"
    a, b = out / "oct" / f"eye_{i:03d}.nii.gz", out / "confocal" / f"flatmount_{i:03d}.tif"
    oct_image, vessels, tree = oct_volume(shape, s_oct, return_vessels=True, return_tree=True)
    _write_nifti(_to_uint8(oct_image), affine, a, desc)
    # the eye's vessel tree on the OCT's en-face grid (H, W): the ground truth of an en-face view of its translation
    en_face = np.diag([*(f / n for f, n in zip(OCT_FOV_MM[1:], shape[1:])), 1.0, 1.0])
    truth = out / VESSEL_MASK_DIR / f"eye_{i:03d}.nii.gz"
    _write_nifti(vessels.astype(np.uint8), en_face, truth, f"vessel mask (H, W) of the sample OCT seed {s_oct}")
    # the flat-mount of the same eye, as the paper's three corresponding sets: its vessel tree, not registered
    stack = _to_uint8(confocal_stack((CONFOCAL_SLICES, h, w), s_conf, tree=tree))
    px = CONFOCAL_FOV_UM / max(h, w)
    _write_tiff_rgb(stack, b, px, 1.5 * px)
    return a, b, {"ground_truth": truth, "counterpart": b}


def _fundus(out: Path, i: int, seed: int, shape: Sequence[int]) -> tuple[Path, Path, dict[str, Path]]:
    image, mask = fundus_image(shape, _item_seed(seed, "fundus", 0, i))
    a, b = out / "vessels" / f"eye_{i:03d}.png", out / "fundus" / f"eye_{i:03d}.png"
    _write_png(mask.astype(np.uint8) * 255, a)
    _write_png(_to_uint8(image), b)
    return a, b, {}


def _fundus_oct(out: Path, i: int, seed: int, shape: Sequence[int]) -> tuple[Path, Path, dict[str, Path]]:
    label = RETINA_CLASSES[i % len(RETINA_CLASSES)]  # classes in turn, so every class has n / 4 eyes
    s = _item_seed(seed, "fundus_oct", 0, i)  # one seed per eye: the photograph and the B-scan share its class
    image, _ = fundus_image(shape, s, label)
    bscan, _, lesions = oct_bscan(shape, s, label)
    a, b = out / "fundus" / label / f"eye_{i:03d}.png", out / "oct" / label / f"eye_{i:03d}.png"
    _write_png(_to_uint8(image), a)
    _write_png(_to_uint8(bscan), b)
    _write_png(lesions.astype(np.uint8) * 255, out / "oct_lesions" / label / f"eye_{i:03d}.png")
    return a, b, {}


def _class_labels(datalist: dict) -> dict:
    """Label every image and pair of a fundus_oct datalist with its class (the folder it was written to)."""
    datalist["labels"] = list(RETINA_CLASSES)
    for split in ("training", "validation", "test"):
        for domain, items in datalist.get(split, {}).items():
            for item in items:
                item["label"] = Path(item["image" if domain != "pairs" else "a"]).parent.name
    return datalist


#: kind -> writer of item i: ``(image A, image B, extra keys of A's datalist item)``.
_WRITERS: dict[str, Callable[[Path, int, int, Sequence[int]], tuple[Path, Path, dict[str, Path]]]] = {
    "ct_mr": _ct_mr,
    "oct_confocal": _oct_confocal,
    "fundus": _fundus,
    "fundus_oct": _fundus_oct,
}


def write_sample_dataset(
    out_dir: str | os.PathLike,
    kind: str,
    n: int = 4,
    seed: int = 0,
    shape: Sequence[int] | None = None,
    split: Sequence[float] = (0.7, 0.3),
) -> Path:
    """Generate ``n`` samples of one kind into ``out_dir`` and write ``out_dir/datalist.json`` describing them.

    Kinds (see :data:`SAMPLE_KINDS`):

    - ``"ct_mr"``: ``ct/subject_NNN.nii.gz`` (int16 HU) and ``mr/subject_NNN.nii.gz`` (int16 T1) of the same anatomy,
      RAS affine; listed as unpaired domains and as pairs (the MR of the same subject is a CT's ground truth).
    - ``"oct_confocal"``: ``oct/eye_NNN.nii.gz`` (uint8 log-scaled OCT, array ``(depth, H, W)``) and
      ``confocal/flatmount_NNN.tif`` (uint8 RGB ImageJ stack ``(Z, Y, X, S)`` in micrometres), the ex-vivo
      flat-mount of the same eye as seed 000's three corresponding sets: the same vessel tree, but rotated, shifted and
      scaled a little (a flat-mount is never registered to the in-vivo scan), with its own nuclei, T cells and noise;
      listed unpaired only. Each OCT item's ``ground_truth`` is ``vessels/eye_NNN.nii.gz``, the eye's en-face vessel
      mask (uint8 0/1, array ``(H, W)`` on the OCT's lateral grid): what the red channel of its translation should
      show; its ``counterpart`` is the flat-mount of the same eye (unregistered:
      :func:`medtranslate.workflows.register_counterparts` registers it).
    - ``"fundus"``: ``vessels/eye_NNN.png`` (0/255 vessel mask) and ``fundus/eye_NNN.png`` (RGB); pairs for
      vessel-map -> fundus translation.
    - ``"fundus_oct"``: ``fundus/CLASS/eye_NNN.png`` (RGB photograph with the class's lesions) and
      ``oct/CLASS/eye_NNN.png`` (grey foveal B-scan of the same eye and class), the classes NORMAL, DRUSEN, CNV and
      DME in turn; every image and pair carries its ``label`` (seed 002: translation and distillation).
      ``oct_lesions/CLASS/eye_NNN.png`` holds each B-scan's lesion mask (not listed).

    Files are written atomically; the same arguments always give the same images. The datalist lists exactly the files
    written by this call (other files already in ``out_dir`` are left alone and not listed).

    Args:
        out_dir: folder of the data set (created when missing).
        kind: one of :data:`SAMPLE_KINDS`.
        n: number of samples per domain (>= 1).
        seed: non-negative seed of the whole data set.
        shape: main image shape (see :data:`DEFAULT_SHAPES`); for ``oct_confocal`` the OCT's ``(depth, H, W)``, the
            confocal stacks being ``(9, H, W)``.
        split: train/test (or train/validation/test) fractions of the seeded split, as seed 003's 70/30.

    Returns:
        The path of the datalist.

    Raises:
        ConfigError: for an unknown kind or ``n < 1``.
    """
    if kind not in SAMPLE_KINDS:
        raise ConfigError(None, f"unknown sample kind {kind!r}: use one of {', '.join(SAMPLE_KINDS)}")
    if int(n) < 1:
        raise ConfigError(None, f"n must be at least 1, not {n}")
    shape = tuple(shape) if shape is not None else DEFAULT_SHAPES[kind]
    out = Path(out_dir)
    written = [_WRITERS[kind](out, i, seed, shape) for i in range(int(n))]
    modality_a, modality_b, paired = SAMPLE_KINDS[kind]
    datalist = make_datalist(  # from the files written now, not a folder scan: older files there are not listed
        [a for a, _, _ in written],
        [b for _, b, _ in written],
        paired=paired,
        split=split,
        seed=seed,
        name=f"medtranslate sample {kind}",
        description=(
            f"Synthetic {modality_a} / {modality_b} phantoms from medtranslate.data.samples "
            f"(kind {kind!r}, n={n}, seed={seed}, shape={list(shape)}); not patient data."
        ),
        modality_a=modality_a,
        modality_b=modality_b,
    )
    extras = {str(a.absolute()): {k: str(v.absolute()) for k, v in e.items()} for a, _, e in written}
    for split in ("training", "validation", "test"):
        for item in datalist.get(split, {}).get("domain_a", []):
            item.update(extras.get(str(Path(item["image"]).absolute()), {}))
    if kind == "fundus_oct":
        datalist = _class_labels(datalist)
    return write_datalist(datalist, out / "datalist.json")
