"""Datalists: the JSON files that say which images make up domain A, domain B, the A/B pairs and each split.

The format is MONAI's decathlon style extended for translation (schema: ``data_specs/datalist.schema.json``, shipped as
``medtranslate/data/schemas/datalist.schema.json``)::

    {"name": "ct2mr", "modality_a": "CT", "modality_b": "MR",
     "training": {"domain_a": [{"image": "ct/s0.nii.gz"}], "domain_b": [{"image": "mr/s1.nii.gz"}],
                  "pairs": [{"a": "ct/s0.nii.gz", "b": "mr/s0.nii.gz"}]},
     "test": {"domain_a": [{"image": "ct/s2.nii.gz", "label": 1}]}}

:func:`load_datalist` validates a file and reports *every* problem at once in one :class:`ConfigError`;
:func:`datalist_split` returns one list of MONAI-style dicts; :func:`make_datalist` builds a datalist from folders with
a seeded split and :func:`write_datalist` writes it atomically with portable relative paths.
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
import os
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from jsonschema import Draft202012Validator

from medtranslate.errors import ConfigError
from medtranslate.io.formats import looks_like_dicom
from medtranslate.utils.atomic import TMP_MARK, atomic_path

__all__ = [
    "SPLITS",
    "DOMAINS",
    "IMAGE_SUFFIXES",
    "load_schema",
    "load_datalist",
    "validate_datalist",
    "datalist_split",
    "find_images",
    "split_indices",
    "make_datalist",
    "write_datalist",
]

#: The splits a datalist may hold, in this order.
SPLITS: tuple[str, ...] = ("training", "validation", "test")
#: The lists a split may hold: unpaired images of each domain, and A/B pairs.
DOMAINS: tuple[str, ...] = ("domain_a", "domain_b", "pairs")
#: File suffixes that :func:`find_images` takes for images (lower case; DICOM files are also found by content).
IMAGE_SUFFIXES: tuple[str, ...] = (
    ".nii.gz",
    ".nii",
    ".nrrd",
    ".nhdr",
    ".mha",
    ".mhd",
    ".tif",
    ".tiff",
    ".png",
    ".jpg",
    ".jpeg",
)
_DICOM_SUFFIXES = (".dcm", ".ima", ".dicom")
_PATH_KEYS = {"domain_a": ("image",), "domain_b": ("image",), "pairs": ("a", "b")}
#: optional paths of an item that are not images of a domain: resolved and checked to exist, nothing more.
_AUX_PATH_KEYS = {
    "domain_a": ("ground_truth", "counterpart"),
    "domain_b": ("ground_truth", "counterpart"),
    "pairs": (),
}
_ROLE = {("domain_a", "image"): "A", ("domain_b", "image"): "B", ("pairs", "a"): "A", ("pairs", "b"): "B"}
_MAX_SHOWN = 20  # problems spelled out in the one-line message; all of them are in ConfigError.problems

PathLike = str | os.PathLike


@functools.lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    """Return the datalist JSON schema shipped with the package (a cached dict: do not modify it).

    Returns:
        The parsed draft 2020-12 schema.
    """
    text = resources.files("medtranslate.data").joinpath("schemas/datalist.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def load_datalist(path: PathLike, base_dir: PathLike | None = None, check_files: bool = True) -> dict[str, Any]:
    """Read, validate and resolve a datalist file.

    Args:
        path: the datalist JSON file.
        base_dir: folder that relative image paths are resolved against; default: the datalist's own folder.
        check_files: also check that every listed file (or DICOM folder) exists.

    Returns:
        A copy of the datalist with every image path made absolute (as ``str``).

    Raises:
        ConfigError: naming the datalist and listing every problem found (unreadable JSON, schema violations with
            their JSON path, unknown keys, empty domains, unknown labels, duplicates, files that do not exist).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ConfigError(path, "datalist not found") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(path, f"cannot read the datalist ({getattr(e, 'strerror', None) or e})") from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(path, f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from e
    base = Path(base_dir) if base_dir is not None else path.parent
    return validate_datalist(data, base_dir=base, check_files=check_files, source=path)


def validate_datalist(
    datalist: Any, base_dir: PathLike = ".", check_files: bool = True, source: PathLike | None = None
) -> dict[str, Any]:
    """Validate a datalist already in memory and return it with absolute paths.

    Args:
        datalist: the parsed JSON.
        base_dir: folder that relative paths are resolved against.
        check_files: also check that every listed path exists.
        source: the file it came from, used to name it in the error (``"datalist"`` when ``None``).

    Returns:
        A deep copy with every ``image`` / ``a`` / ``b`` path absolute.

    Raises:
        ConfigError: listing every problem found; its ``problems`` attribute holds them as a list of strings.
    """
    problems = _schema_problems(datalist)
    if not isinstance(datalist, dict):
        _raise(source, problems)
    resolved = copy.deepcopy(datalist)
    problems += _label_problems(datalist)
    problems += _path_problems(resolved, Path(base_dir), check_files)
    if problems:
        _raise(source, problems)
    return resolved


def datalist_split(
    datalist: Mapping[str, Any] | PathLike, split: str, domain: str, missing_ok: bool = False
) -> list[dict[str, Any]]:
    """Return one list of a datalist as MONAI-style dicts (``{"image": ...}`` or ``{"a": ..., "b": ...}``).

    Args:
        datalist: a datalist from :func:`load_datalist`, or the path of one (then loaded and checked).
        split: ``"training"``, ``"validation"`` or ``"test"``.
        domain: ``"domain_a"``, ``"domain_b"`` or ``"pairs"``.
        missing_ok: return ``[]`` instead of raising when the datalist has no such list.

    Returns:
        A deep copy of the items, in datalist order.

    Raises:
        ConfigError: for an unknown split or domain name, or a missing list unless ``missing_ok``.
    """
    source = None
    if not isinstance(datalist, Mapping):
        source = datalist
        datalist = load_datalist(datalist)
    if split not in SPLITS:
        raise ConfigError(source, f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    if domain not in DOMAINS:
        raise ConfigError(source, f"unknown domain {domain!r}: use one of {', '.join(DOMAINS)}")
    items = datalist.get(split, {}).get(domain)
    if items is None:
        if missing_ok:
            return []
        have = [f"{s}.{d}" for s in SPLITS for d in DOMAINS if d in datalist.get(s, {})]
        raise ConfigError(source or "datalist", f"has no {split}.{domain} (it has: {', '.join(have) or 'nothing'})")
    return copy.deepcopy(list(items))


# ----------------------------------------------------------------------------------------------------------- checks


def _raise(source: PathLike | None, problems: list[str]) -> None:
    shown = problems[:_MAX_SHOWN]
    more = f"; ... and {len(problems) - _MAX_SHOWN} more" if len(problems) > _MAX_SHOWN else ""
    n = len(problems)
    head = f"invalid datalist, {n} problem{'s' if n != 1 else ''}: "
    err = ConfigError(source if source is not None else "datalist", head + "; ".join(shown) + more)
    err.problems = list(problems)
    raise err


def _schema_problems(data: Any) -> list[str]:
    validator = Draft202012Validator(load_schema())
    problems = []
    for err in sorted(validator.iter_errors(data), key=lambda e: (e.json_path, e.validator, e.message)):
        problems.extend(_describe(err))
    return problems


def _describe(err: Any) -> list[str]:
    """Turn one jsonschema error into readable problems, each starting with its JSON path."""
    where, kind, inst = err.json_path, err.validator, err.instance
    if kind == "additionalProperties":
        allowed = list(err.schema.get("properties", {}))
        out = []
        for key in (k for k in inst if k not in allowed):
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(allowed)}"
            at = f"{where}.{key}" if key.isidentifier() else f"{where}[{key!r}]"
            out.append(f"{at}: unknown key {key!r} ({hint})")
        return out
    if kind == "required":
        return [f"{where}: missing key {key!r}" for key in err.validator_value if key not in inst]
    if kind == "minItems" and isinstance(inst, list):
        return [f"{where}: empty list (a domain or pair list needs at least one item; leave the key out instead)"]
    if kind == "minProperties" and where.count(".") == 1 and where[2:] in SPLITS:
        return [f"{where}: empty split (give domain_a, domain_b and/or pairs, or leave the split out)"]
    if kind == "anyOf" and where == "$":
        return [f"$: no split (give at least one of {', '.join(SPLITS)})"]
    if kind == "type":
        want = err.validator_value if isinstance(err.validator_value, str) else " or ".join(err.validator_value)
        return [f"{where}: must be {'an' if want[0] in 'aeiou' else 'a'} {want}, not {_json_type(inst)}"]
    if kind == "minLength":
        return [f"{where}: empty string"]
    if kind == "oneOf" and where == "$.labels":
        return ["$.labels: must be a non-empty list of unique labels or a map of label value -> name"]
    return [f"{where}: {err.message}"]


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    if isinstance(value, bool | dict | list | str) or value is None:
        return names[type(value)]
    return "a number"


def _iter_items(data: Mapping[str, Any]):
    """Yield (split, domain, index, item) for every structurally sound item."""
    for split in SPLITS:
        part = data.get(split)
        if not isinstance(part, dict):
            continue
        for domain in DOMAINS:
            items = part.get(domain)
            if not isinstance(items, list):
                continue
            for i, item in enumerate(items):
                if isinstance(item, dict):
                    yield split, domain, i, item


def _label_problems(data: Mapping[str, Any]) -> list[str]:
    labels = data.get("labels")
    if isinstance(labels, list):
        allowed = {str(v) for v in labels}
    elif isinstance(labels, dict) and labels:
        allowed = set(labels)
    else:
        return []
    problems = []
    for split, domain, i, item in _iter_items(data):
        value = item.get("label")
        if isinstance(value, int | str) and not isinstance(value, bool) and str(value) not in allowed:
            declared = ", ".join(sorted(allowed))
            problems.append(f"$.{split}.{domain}[{i}].label: {value!r} is not one of the declared labels ({declared})")
    return problems


def _path_problems(data: dict[str, Any], base: Path, check_files: bool) -> list[str]:
    """Resolve paths in place; report missing files, duplicates, and files in two splits or in both domains."""
    problems: list[str] = []
    seen: dict[tuple[str, str, str], str] = {}  # (split, domain/key, real path) -> first json path
    where_split: dict[str, tuple[str, str]] = {}  # real path -> (split, json path)
    where_role: dict[str, tuple[str, str]] = {}  # real path -> (role A/B, json path)
    pairs_seen: dict[tuple[str, str, str], str] = {}
    for split, domain, i, item in _iter_items(data):
        for key in _AUX_PATH_KEYS[domain]:
            raw = item.get(key)
            if isinstance(raw, str) and raw:
                item[key] = os.path.abspath(os.path.join(base, os.path.expanduser(raw)))
                if check_files and not os.path.exists(item[key]):
                    problems.append(f"$.{split}.{domain}[{i}].{key}: file not found: {raw}")
        reals = []
        for key in _PATH_KEYS[domain]:
            raw = item.get(key)
            if not isinstance(raw, str) or not raw:
                continue
            jp = f"$.{split}.{domain}[{i}].{key}"
            full = os.path.abspath(os.path.join(base, os.path.expanduser(raw)))
            item[key] = full
            real = os.path.realpath(full)
            reals.append(real)
            if check_files and not os.path.exists(full):
                shown = raw if raw == full else f"{raw} (looked for {full})"
                problems.append(f"{jp}: file not found: {shown}")
            if domain != "pairs":
                first = seen.setdefault((split, domain, real), jp)
                if first != jp:
                    problems.append(f"{jp}: duplicate of {first} ({raw})")
            other = where_split.setdefault(real, (split, jp))
            if other[0] != split:
                problems.append(f"{jp}: {raw} is also in {other[0]} ({other[1]}): a file must be in one split only")
            role = _ROLE[(domain, key)]
            other = where_role.setdefault(real, (role, jp))
            if other[0] != role:
                problems.append(f"{jp}: {raw} is in both domain A and domain B (also {other[1]})")
        if domain == "pairs" and len(reals) == 2:
            jp = f"$.{split}.pairs[{i}]"
            first = pairs_seen.setdefault((split, *reals), jp)
            if first != jp:
                problems.append(f"{jp}: duplicate of {first}")
    return problems


# --------------------------------------------------------------------------------------------------------- building


def _image_suffix(name: str) -> str | None:
    low = name.lower()
    return next((s for s in IMAGE_SUFFIXES if low.endswith(s)), None)


def _is_dicom(path: Path) -> bool:
    if path.suffix.lower() in _DICOM_SUFFIXES:
        return True
    if path.suffix and not path.suffix[1:].isdigit():
        return False  # DICOM files without a suffix (or with a numeric one, as UIDs) are common; other suffixes are not
    return looks_like_dicom(path)


def _dicom_series(files: list[Path]) -> dict[str | None, list[Path]]:
    """Group DICOM files by SeriesInstanceUID (unreadable ones under ``None``)."""
    groups: dict[str | None, list[Path]] = {}
    for f in files:
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True, specific_tags=["SeriesInstanceUID"], force=True)
            uid = str(ds.get("SeriesInstanceUID", "")) or None
        except Exception:  # noqa: BLE001 - an unreadable file is reported when it is loaded, not here
            uid = None
        groups.setdefault(uid, []).append(f)
    return groups


def find_images(root: PathLike, recursive: bool = True) -> list[dict[str, Any]]:
    """List the images under a folder (or a single file) as datalist items, sorted by relative path.

    Every image file is one item; a folder of DICOM files is one item (one per series, with ``series_uid``, when it
    holds several series). Hidden files and medtranslate's temporary files are skipped.

    Args:
        root: a folder, or one image file.
        recursive: also look in sub-folders.

    Returns:
        Items ``{"image": absolute path}`` (plus ``"series_uid"`` where needed).

    Raises:
        ConfigError: if ``root`` does not exist.
    """
    root = Path(root).expanduser().absolute()
    if root.is_file():
        return [{"image": str(root)}]
    if not root.is_dir():
        raise ConfigError(root, "no such file or folder")
    found: list[tuple[str, dict[str, Any]]] = []
    dicom: dict[Path, list[Path]] = {}
    walker = os.walk(root) if recursive else [(str(root), [], [e.name for e in os.scandir(root) if e.is_file()])]
    for folder, subdirs, files in walker:
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or TMP_MARK in name:
                continue
            path = Path(folder) / name
            if _image_suffix(name):
                found.append((path.relative_to(root).as_posix(), {"image": str(path)}))
            elif _is_dicom(path):
                dicom.setdefault(Path(folder), []).append(path)
    for folder, files in dicom.items():
        rel = folder.relative_to(root).as_posix()
        groups = _dicom_series(files)
        if len(groups) == 1:
            found.append((rel, {"image": str(folder)}))
        else:
            for uid in sorted(groups, key=str):
                item = {"image": str(folder)} if uid is None else {"image": str(folder), "series_uid": uid}
                found.append((f"{rel}#{uid}", item))
    return [item for _, item in sorted(found, key=lambda t: t[0])]


def split_indices(n: int, fractions: Sequence[float] | Mapping[str, float], seed: int = 0) -> dict[str, list[int]]:
    """Assign ``n`` items to splits at random, reproducibly.

    Counts use the largest-remainder rule, and every split with a non-zero fraction gets at least one item when there
    are enough items. Indices inside each split are sorted.

    Args:
        n: number of items.
        fractions: ``(train, test)``, ``(train, validation, test)``, or a map from split name to fraction; they must
            sum to 1 (for example ``(0.7, 0.3)``, the 70/30 split of seed 003).
        seed: seed of the shuffle (``numpy.random.default_rng``).

    Returns:
        Split name -> sorted item indices; splits that get no item are left out.

    Raises:
        ConfigError: for negative fractions, fractions that do not sum to 1, or unknown split names.
    """
    if isinstance(fractions, Mapping):
        unknown = [k for k in fractions if k not in SPLITS]
        if unknown:
            raise ConfigError(None, f"unknown split name(s) {', '.join(map(repr, unknown))}: use {', '.join(SPLITS)}")
        frac = {k: float(v) for k, v in fractions.items()}
    elif len(fractions) == 2:
        frac = {"training": float(fractions[0]), "test": float(fractions[1])}
    elif len(fractions) == 3:
        frac = dict(zip(SPLITS, map(float, fractions)))
    else:
        raise ConfigError(None, f"split needs 2 (train, test) or 3 (train, val, test) fractions, got {fractions}")
    if any(v < 0 for v in frac.values()) or abs(sum(frac.values()) - 1.0) > 1e-6:
        raise ConfigError(None, f"split fractions must be >= 0 and sum to 1, got {list(frac.values())}")
    names = [k for k in SPLITS if frac.get(k, 0) > 0]
    exact = [frac[k] * n for k in names]
    counts = [int(x) for x in exact]
    for j in sorted(range(len(names)), key=lambda j: (counts[j] - exact[j], j))[: n - sum(counts)]:
        counts[j] += 1
    if n >= len(names):  # every requested split gets an item: take one from the largest
        for j in range(len(names)):
            if counts[j] == 0:
                counts[int(np.argmax(counts))] -= 1
                counts[j] = 1
    order = np.random.default_rng(seed).permutation(n).tolist()
    out, start = {}, 0
    for name, c in zip(names, counts):
        if c:
            out[name] = sorted(order[start : start + c])
        start += c
    return out


def _entries(source: PathLike | Sequence[PathLike], labels_from_folders: bool) -> list[tuple[str, dict[str, Any]]]:
    """(pairing key, item) for every image of one domain, sorted by key."""
    roots = [source] if isinstance(source, str | os.PathLike) else list(source)
    out = []
    for root in roots:
        root = Path(root).expanduser().absolute()
        for item in find_images(root, recursive=True):
            rel = Path(item["image"]).relative_to(root).as_posix() if root.is_dir() else Path(item["image"]).name
            suffix = _image_suffix(rel) or ""
            key = rel[: len(rel) - len(suffix)] + (f"#{item['series_uid']}" if "series_uid" in item else "")
            if labels_from_folders:
                parts = Path(rel).parts
                if len(parts) < 2 or rel in (".", ""):
                    raise ConfigError(item["image"], "labels_from_folders needs every image inside a class folder")
                item["label"] = parts[0]
            out.append((key, item))
    return sorted(out, key=lambda t: t[0])


def make_datalist(
    domain_a: PathLike | Sequence[PathLike] | None = None,
    domain_b: PathLike | Sequence[PathLike] | None = None,
    *,
    paired: bool = False,
    split: Sequence[float] | Mapping[str, float] | None = None,
    seed: int = 0,
    labels_from_folders: bool = False,
    name: str | None = None,
    description: str | None = None,
    modality_a: str | None = None,
    modality_b: str | None = None,
) -> dict[str, Any]:
    """Build a datalist from folders of images (sorted, deterministic; absolute paths).

    Args:
        domain_a: folder(s) or file(s) of domain A.
        domain_b: folder(s) or file(s) of domain B.
        paired: match A and B images by their path relative to their folder (without suffix) and list them as
            ``pairs`` too; every image must then have a partner.
        split: fractions for a seeded random split (see :func:`split_indices`); ``None`` puts everything in training.
            Unpaired domains are split independently with the same seed; pairs are split as units.
        seed: seed of the split.
        labels_from_folders: the first sub-folder under each domain folder is the class label of its images.
        name: data set name.
        description: free text.
        modality_a: modality of domain A.
        modality_b: modality of domain B.

    Returns:
        A datalist that follows the schema (write it with :func:`write_datalist`).

    Raises:
        ConfigError: for a missing folder, an empty domain, or (``paired``) images without a partner.
    """
    if domain_a is None and domain_b is None:
        raise ConfigError(None, "make_datalist needs domain_a and/or domain_b")
    domains = {}
    for key, src in (("domain_a", domain_a), ("domain_b", domain_b)):
        if src is None:
            continue
        entries = _entries(src, labels_from_folders)
        if not entries:
            raise ConfigError(os.fspath(src) if isinstance(src, str | os.PathLike) else None, f"{key}: no images found")
        domains[key] = entries
    out: dict[str, Any] = {}
    for k, v in (("name", name), ("description", description), ("modality_a", modality_a), ("modality_b", modality_b)):
        if v:
            out[k] = v
    if labels_from_folders:
        out["labels"] = sorted({item["label"] for entries in domains.values() for _, item in entries})
    fractions = split if split is not None else {"training": 1.0}
    if paired:
        if len(domains) != 2:
            raise ConfigError(None, "paired=True needs both domain_a and domain_b")
        a, b = dict(domains["domain_a"]), dict(domains["domain_b"])
        lonely = sorted(set(a) ^ set(b))
        if lonely:
            shown = ", ".join(lonely[:10]) + (f" and {len(lonely) - 10} more" if len(lonely) > 10 else "")
            raise ConfigError(None, f"paired=True: {len(lonely)} image(s) have no partner: {shown}")
        keys = sorted(a)
        for split_name, idx in split_indices(len(keys), fractions, seed).items():
            chosen = [keys[i] for i in idx]
            pairs = []
            for k in chosen:
                pair = {"a": a[k]["image"], "b": b[k]["image"]}
                pair.update({f"{key}_a": v for key, v in a[k].items() if key == "series_uid"})
                pair.update({f"{key}_b": v for key, v in b[k].items() if key == "series_uid"})
                if "label" in a[k]:
                    pair["label"] = a[k]["label"]
                pairs.append(pair)
            out[split_name] = {"domain_a": [a[k] for k in chosen], "domain_b": [b[k] for k in chosen], "pairs": pairs}
    else:
        for key, entries in domains.items():
            for split_name, idx in split_indices(len(entries), fractions, seed).items():
                out.setdefault(split_name, {})[key] = [entries[i][1] for i in idx]
    return {k: out[k] for k in (*[k for k in out if k not in SPLITS], *[s for s in SPLITS if s in out])}


def write_datalist(datalist: Mapping[str, Any], path: PathLike, relative: bool = True) -> Path:
    """Validate a datalist and write it as JSON, atomically.

    Args:
        datalist: the datalist (for example from :func:`make_datalist`).
        path: the JSON file to write.
        relative: store paths inside the datalist's folder relative to it, so the folder can be moved as a whole.

    Returns:
        The path written.

    Raises:
        ConfigError: when the datalist does not follow the schema.
        OutputError: when the file cannot be written.
    """
    path = Path(path)
    base = path.parent.absolute()
    data = validate_datalist(datalist, base_dir=base, check_files=False, source=path)
    if relative:
        for _, domain, _, item in _iter_items(data):
            for key in (*_PATH_KEYS[domain], *(k for k in _AUX_PATH_KEYS[domain] if item.get(k))):
                rel = os.path.relpath(item[key], base)
                if not rel.startswith(".."):
                    item[key] = Path(rel).as_posix()
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
