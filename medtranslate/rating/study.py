"""Rating studies: the study file (``data_specs/rating_study.schema.json``), its checks, and the study folder.

A study folder holds ``study.json`` (the checked spec with absolute paths and the order seed), ``images/`` (one PNG
per view, named by a random id that says nothing about the model) and ``ratings.sqlite`` (see
:mod:`medtranslate.rating.store`). Sets with a real reference are *reference sets*, shown first; the others are
*blind sets*. Each rater sees each set's model outputs in their own random order, drawn from the study seed, the
rater's name and the set's name, so the order is the same on every reload and differs between raters.
"""

from __future__ import annotations

import functools
import json
import os
import random
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from medtranslate import __version__
from medtranslate.errors import ConfigError, InputError, OutputError
from medtranslate.rating.render import display_range, image_views, save_png
from medtranslate.rating.store import DB_NAME, ImageRow, RatingStore
from medtranslate.utils.atomic import atomic_path

__all__ = [
    "Study",
    "StudySet",
    "DEFAULT_CRITERIA",
    "load_study_spec",
    "validate_study_spec",
    "spec_from_folders",
    "create_study",
    "open_study",
    "candidate_order",
    "load_schema",
    "rank_scores",
]

#: Seed 000's criteria.
DEFAULT_CRITERIA = ("authenticity", "detail preservation", "aesthetics", "artifact exclusion")
STUDY_FILE = "study.json"
IMAGES_DIR = "images"


@functools.lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    """The rating study JSON schema shipped with the package (cached: do not modify it)."""
    text = resources.files("medtranslate.data").joinpath("schemas/rating_study.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


@dataclass(frozen=True)
class StudySet:
    """One set as the server and the results see it.

    Args:
        name: the set's name (never shown to raters).
        kind: ``"reference"`` or ``"blind"``.
        input_id: image id of the input's view.
        reference_id: image id of the reference's view, or ``None``.
        outputs: model name -> image id of its output's view.
    """

    name: str
    kind: str
    input_id: str
    reference_id: str | None
    outputs: dict[str, str]


@dataclass
class Study:
    """An opened study folder.

    Args:
        folder: the study folder.
        spec: the checked study spec (``study.json``).
        store: its database.
        sets: the sets, reference sets first, then blind sets (each group in study-file order).
        strips: image id -> id of its slice strip, for volumes.
    """

    folder: Path
    spec: dict[str, Any]
    store: RatingStore
    sets: list[StudySet]
    strips: dict[str, str]

    @property
    def seed(self) -> int:
        """Seed of the per-rater image order."""
        return int(self.spec["seed"])

    @property
    def models(self) -> list[str]:
        """Model names, sorted."""
        return sorted(self.sets[0].outputs)

    @property
    def images_dir(self) -> Path:
        """Folder of the rendered PNGs."""
        return self.folder / IMAGES_DIR


def _fail(source: str | os.PathLike | None, problems: list[str]) -> None:
    n = len(problems)
    shown = "; ".join(problems[:10]) + (f"; ... and {n - 10} more" if n > 10 else "")
    err = ConfigError(source or "study", f"invalid rating study, {n} problem{'s' if n != 1 else ''}: {shown}")
    err.problems = list(problems)
    raise err


def _image_entry(value: Any) -> dict[str, Any]:
    return {"image": value} if isinstance(value, str) else dict(value)


def validate_study_spec(
    spec: Any, base_dir: str | os.PathLike = ".", source: str | os.PathLike | None = None, check_files: bool = True
) -> dict[str, Any]:
    """Check a study spec and return a copy with every image as ``{"image": absolute path, ...}``.

    Args:
        spec: the parsed study JSON.
        base_dir: folder that relative paths are resolved against.
        source: the file it came from, named in the error.
        check_files: also check that every image exists.

    Returns:
        The normalised spec.

    Raises:
        ConfigError: one line listing every problem: schema violations with their JSON path, sets whose models
            differ in number or name, duplicate set names, missing files.
    """
    validator = Draft202012Validator(load_schema())
    problems = [f"{e.json_path}: {e.message}" for e in sorted(validator.iter_errors(spec), key=lambda e: e.json_path)]
    if problems:
        _fail(source, problems)
    out = json.loads(json.dumps(spec))
    base = Path(base_dir)
    sets = out["sets"]
    first = sets[0]
    seen: set[str] = set()
    for k, s in enumerate(sets):
        where = f"$.sets[{k}]"
        if s["name"] in seen:
            problems.append(f"{where}.name: set name {s['name']!r} is used twice")
        seen.add(s["name"])
        if len(s["outputs"]) != len(first["outputs"]):
            problems.append(
                f"{where}: set {s['name']!r} has {len(s['outputs'])} models but set {first['name']!r} has "
                f"{len(first['outputs'])}: every set must show the outputs of the same models"
            )
        elif set(s["outputs"]) != set(first["outputs"]):
            problems.append(
                f"{where}: set {s['name']!r} has models {', '.join(sorted(s['outputs']))} but set {first['name']!r} "
                f"has {', '.join(sorted(first['outputs']))}: every set must show the outputs of the same models"
            )
        entries = [("input", s, "input"), ("reference", s, "reference")]
        entries += [(f"outputs.{m}", s["outputs"], m) for m in s["outputs"]]
        for label, holder, key in entries:
            if key not in holder:
                continue
            entry = _image_entry(holder[key])
            p = Path(entry["image"]).expanduser()
            p = p if p.is_absolute() else base / p
            entry["image"] = str(p.absolute())
            holder[key] = entry
            if check_files and not p.exists():
                problems.append(f"{where}.{label}: image not found: {p}")
    if problems:
        _fail(source, problems)
    return out


def load_study_spec(path: str | os.PathLike, check_files: bool = True) -> dict[str, Any]:
    """Read and check a study file (relative paths are resolved against its folder).

    Args:
        path: the study JSON.
        check_files: also check that every image exists.

    Returns:
        The normalised spec (see :func:`validate_study_spec`).

    Raises:
        ConfigError: for an unreadable file, invalid JSON, or any problem :func:`validate_study_spec` finds.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ConfigError(path, "study file not found") from e
    except json.JSONDecodeError as e:
        raise ConfigError(path, f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(path, f"cannot read the study file ({getattr(e, 'strerror', None) or e})") from e
    return validate_study_spec(data, base_dir=path.parent, source=path, check_files=check_files)


def spec_from_folders(sets: Mapping[str, str | os.PathLike], name: str | None = None) -> dict[str, Any]:
    """Build a study spec from one folder per set: ``input.*``, an optional ``reference.*``, one file per model.

    In each folder, the file (or DICOM folder) whose name starts with ``input.`` (or is ``input``) is the input,
    ``reference.*`` is the real reference, and every other entry is the output of the model it is named after (the
    name up to the first dot: ``final.nii.gz`` is model ``final``). Hidden entries are ignored.

    Args:
        sets: set name -> folder.
        name: the study's title.

    Returns:
        An (unchecked) study spec; pass it to :func:`validate_study_spec`.

    Raises:
        InputError: for a folder that does not exist, has no input, or holds two files for one model.
    """
    out_sets = []
    for set_name, folder in sets.items():
        folder = Path(folder)
        if not folder.is_dir():
            raise InputError(folder, f"set {set_name!r}: folder not found")
        entry: dict[str, Any] = {"name": set_name, "outputs": {}}
        for child in sorted(folder.iterdir()):
            if child.name.startswith("."):
                continue
            stem = child.name.split(".", 1)[0]
            key = "input" if stem == "input" else "reference" if stem == "reference" else None
            if key is not None:
                if key in entry:
                    raise InputError(
                        folder, f"set {set_name!r}: two {key} files ({Path(entry[key]).name}, {child.name})"
                    )
                entry[key] = str(child.absolute())
            elif stem in entry["outputs"]:
                raise InputError(folder, f"set {set_name!r}: two files for model {stem!r}")
            else:
                entry["outputs"][stem] = str(child.absolute())
        if "input" not in entry:
            raise InputError(folder, f"set {set_name!r}: no input.* file (the image the models translated)")
        out_sets.append(entry)
    spec: dict[str, Any] = {"sets": out_sets}
    if name:
        spec["name"] = name
    return spec


def _views_for_set(spec: Mapping[str, Any], s: Mapping[str, Any]) -> dict[str, Any]:
    depth = int(spec.get("depth_axis", 0))

    def views(entry: Mapping[str, Any]) -> Any:
        return image_views(entry["image"], int(entry.get("depth_axis", depth)), entry.get("series_uid"))

    out = {"input": views(s["input"]), "outputs": {m: views(e) for m, e in s["outputs"].items()}}
    out["reference"] = views(s["reference"]) if "reference" in s else None
    return out


def _render_set(spec: Mapping[str, Any], s: Mapping[str, Any], images_dir: Path, ids: set[str]) -> list[ImageRow]:
    """Render one set's PNGs; references and outputs share one display range (relative brightness is kept)."""
    v = _views_for_set(spec, s)
    shared = [*v["outputs"].values()] + ([v["reference"]] if v["reference"] is not None else [])
    if spec.get("value_range") is not None:
        lo, hi = spec["value_range"]
        rng = (float(lo), float(hi))
    else:
        rng = display_range([a for views in shared for a in (views.view, views.strip) if a is not None])

    def new_id() -> str:
        while True:
            i = secrets.token_hex(8)
            if i not in ids:
                ids.add(i)
                return i

    def write(views: Any, role: str, model: str | None, value_range: tuple[float, float] | None) -> ImageRow:
        main = new_id()
        save_png(views.view, images_dir / f"{main}.png", value_range)
        strip = None
        if views.strip is not None:
            strip = new_id()
            save_png(views.strip, images_dir / f"{strip}.png", value_range)
        return ImageRow(main, s["name"], role, model, strip)

    rows = [write(v["input"], "input", None, None)]
    if v["reference"] is not None:
        rows.append(write(v["reference"], "reference", None, rng))
    models = list(v["outputs"])
    random.Random(secrets.randbits(64)).shuffle(models)  # file order on disk says nothing about the model either
    rows += [write(v["outputs"][m], "output", m, rng) for m in models]
    return rows


def create_study(
    folder: str | os.PathLike,
    spec: Mapping[str, Any],
    source: str | os.PathLike | None = None,
    seed: int | None = None,
    echo: Any = None,
) -> Study:
    """Create a study folder: check the spec, render every image, write ``study.json`` and ``ratings.sqlite``.

    Args:
        folder: the new study folder (must not exist, or be empty).
        spec: a study spec (from :func:`load_study_spec`, :func:`spec_from_folders` or a dict).
        source: where the spec came from, named in errors; relative paths are resolved against its folder.
        seed: seed of the image order; default: the spec's ``seed``, else a random one (stored in both files).
        echo: optional ``echo(line)`` for progress.

    Returns:
        The opened study.

    Raises:
        ConfigError: for an invalid spec.
        InputError: for an image that cannot be read.
        OutputError: when ``folder`` exists and is not empty, or cannot be written.
    """
    folder = Path(folder)
    base = Path(source).parent if source is not None else Path(".")
    checked = validate_study_spec(spec, base_dir=base, source=source)
    if seed is not None:
        checked["seed"] = int(seed)
    checked.setdefault("seed", secrets.randbelow(2**31))
    checked.setdefault("criteria", list(DEFAULT_CRITERIA))
    checked.setdefault("name", folder.name)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise OutputError(folder, "already exists and is not empty: a study is created in a new folder")
    with atomic_path(folder, is_dir=True) as tmp:
        images = tmp / IMAGES_DIR
        images.mkdir()
        store = RatingStore(tmp / DB_NAME, create=True)
        rows: list[ImageRow] = []
        ids: set[str] = set()
        for k, s in enumerate(checked["sets"], 1):
            if echo is not None:
                echo(f"  rendering set {k}/{len(checked['sets'])}: {s['name']}")
            rows += _render_set(checked, s, images, ids)
        store.add_images(rows)
        store.set_meta({"seed": checked["seed"], "created_at": time.time(), "medtranslate_version": __version__})
        record = {**checked, "medtranslate_version": __version__}
        (tmp / STUDY_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        for extra in tmp.glob(f"{DB_NAME}-*"):  # WAL side files of the closed connections
            extra.unlink()
    return open_study(folder)


def open_study(folder: str | os.PathLike) -> Study:
    """Open a study folder made by :func:`create_study`.

    Args:
        folder: the study folder.

    Raises:
        InputError: when the folder is not a study, or its files do not match.
    """
    folder = Path(folder)
    if not (folder / STUDY_FILE).is_file():
        raise InputError(folder, f"is not a rating study (no {STUDY_FILE}): create one with `medtranslate rate create`")
    try:
        spec = json.loads((folder / STUDY_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(folder / STUDY_FILE, f"cannot be read ({e})") from e
    store = RatingStore(folder / DB_NAME)
    by_set: dict[str, list[ImageRow]] = {}
    strips: dict[str, str] = {}
    for row in store.images():
        by_set.setdefault(row.set_name, []).append(row)
        if row.strip_id is not None:
            strips[row.id] = row.strip_id
    sets = []
    for s in spec.get("sets", []):
        rows = by_set.get(s["name"])
        if not rows:
            raise InputError(folder / DB_NAME, f"has no images of set {s['name']!r}: the study folder is damaged")
        inp = next(r.id for r in rows if r.role == "input")
        ref = next((r.id for r in rows if r.role == "reference"), None)
        outputs = {r.model: r.id for r in rows if r.role == "output"}
        sets.append(StudySet(s["name"], "reference" if ref else "blind", inp, ref, outputs))
    sets.sort(key=lambda s: s.kind != "reference")  # stable: reference sets first, each group in file order
    return Study(folder, spec, store, sets, strips)


def candidate_order(study_seed: int, rater: str, study_set: StudySet) -> list[str]:
    """The image ids of a set's outputs in the order one rater sees them.

    Args:
        study_seed: the study seed.
        rater: the rater's name.
        study_set: the set.

    Returns:
        Image ids, shuffled by a generator seeded with the study seed, the rater and the set (stable across reloads).
    """
    ids = sorted(study_set.outputs.values())
    random.Random(f"{study_seed}\x1f{rater}\x1f{study_set.name}").shuffle(ids)
    return ids


def rank_scores(order: Sequence[str]) -> dict[str, float]:
    """Scores of a ranking on the 1-100 MOS scale: first (best) 100, last 1, evenly spaced in between.

    Args:
        order: image ids, best first (at least two).

    Returns:
        image id -> score.
    """
    n = len(order)
    return {i: round(1.0 + 99.0 * (n - 1 - p) / (n - 1), 6) for p, i in enumerate(order)}
