"""Class labels of datalist items: the class list, class indices, one-class selection and teacher/student checks.

Seed 002's datalists carry a class label on every image (``NORMAL``, ``DRUSEN``, ``CNV``, ``DME`` as in the public
OCT class sets). These helpers turn labels into class indices against the datalist's ``labels`` list, keep the items of
chosen classes (DRUSEN-only synthesis), and check that an OCT teacher and a fundus student were given the same classes.
Every problem is one :class:`~medtranslate.errors.ConfigError` line naming the datalist when it is known.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from medtranslate.errors import ConfigError

__all__ = ["class_names", "class_index", "select_classes", "check_shared_classes"]


def class_names(datalist: Mapping[str, Any], source: str | os.PathLike | None = None) -> list[str]:
    """The datalist's class names in label order.

    ``labels`` may be a list (the position is the class index) or a decathlon map ``{"0": "NORMAL", ...}`` (the
    value is the name, the key the index).

    Args:
        datalist: a loaded datalist.
        source: the datalist file, for the message.

    Returns:
        The class names.

    Raises:
        ConfigError: when the datalist declares no ``labels``.
    """
    labels = datalist.get("labels")
    if isinstance(labels, Mapping) and labels:
        return [str(labels[k]) for k in sorted(labels, key=lambda k: int(k) if str(k).isdigit() else str(k))]
    if isinstance(labels, Sequence) and not isinstance(labels, str) and labels:
        return [str(v) for v in labels]
    raise ConfigError(source, "declares no class list ('labels'); a class-labelled datalist needs one")


def _index(value: Any, names: Sequence[str], labels: Any) -> int | None:
    text = str(value)
    if text in names:
        return list(names).index(text)
    if isinstance(labels, Mapping) and text in labels:  # a map's key ("1") names class labels["1"]
        return list(names).index(str(labels[text]))
    return None


def class_index(
    items: Sequence[Mapping[str, Any]],
    datalist: Mapping[str, Any],
    key: str = "class",
    source: str | os.PathLike | None = None,
) -> list[dict[str, Any]]:
    """Copies of ``items`` with the class index of their ``label`` under ``key``.

    Args:
        items: datalist items with a ``label``.
        datalist: the datalist they come from (its ``labels``).
        key: where the index goes.
        source: the datalist file, for the message.

    Returns:
        New item dicts.

    Raises:
        ConfigError: for an item without a label, or a label missing from the class list.
    """
    names = class_names(datalist, source)
    out = []
    for item in items:
        where = item.get("image", item.get("a"))
        if "label" not in item:
            raise ConfigError(source, f"{where} has no class label; every image needs one of {', '.join(names)}")
        idx = _index(item["label"], names, datalist.get("labels"))
        if idx is None:
            raise ConfigError(
                source, f"{where}: class label {item['label']!r} is not in the class list ({', '.join(names)})"
            )
        out.append({**item, key: idx})
    return out


def select_classes(
    items: Sequence[Mapping[str, Any]],
    classes: str | Sequence[str] | None,
    datalist: Mapping[str, Any],
    what: str = "training images",
    source: str | os.PathLike | None = None,
) -> list[dict[str, Any]]:
    """Keep the items of the chosen classes (e.g. DRUSEN-only synthesis), each with its class index.

    Args:
        items: datalist items with a ``label``.
        classes: class name(s) to keep; ``None`` keeps every item (still checking the labels).
        datalist: the datalist they come from.
        what: what the items are, for the message (``"fundus training images"``).
        source: the datalist file, for the message.

    Returns:
        The kept items, with ``class`` set.

    Raises:
        ConfigError: for a class that is not in the class list, or a chosen class without any item.
    """
    indexed = class_index(items, datalist, source=source)
    if classes is None:
        return indexed
    names = class_names(datalist, source)
    wanted = [classes] if isinstance(classes, str) else list(classes)
    unknown = [c for c in wanted if str(c) not in names]
    if unknown:
        raise ConfigError(source, f"class {unknown[0]!r} (train_classes) is not in the class list ({', '.join(names)})")
    keep = {names.index(str(c)) for c in wanted}
    for c in sorted(keep):
        if not any(item["class"] == c for item in indexed):
            raise ConfigError(source, f"class {names[c]} has no {what}: the class is empty")
    return [item for item in indexed if item["class"] in keep]


def check_shared_classes(
    teacher: Sequence[Mapping[str, Any]],
    student: Sequence[Mapping[str, Any]],
    datalist: Mapping[str, Any],
    source: str | os.PathLike | None = None,
) -> list[str]:
    """Check that teacher and student images cover the same classes, each class with images on both sides.

    Distillation without pairs links the two modalities only through their classes, so a class seen by one side
    alone has nothing to match.

    Args:
        teacher: the teacher's items (e.g. OCT), with ``class`` indices (see :func:`class_index`).
        student: the student's items (e.g. fundus), with ``class`` indices.
        datalist: the datalist, for the class names.
        source: the datalist file, for the message.

    Returns:
        The shared class names, in label order.

    Raises:
        ConfigError: when a class is empty on both sides, or present on one side only.
    """
    names = class_names(datalist, source)
    t = {int(item["class"]) for item in teacher}
    s = {int(item["class"]) for item in student}
    if t != s:
        only_t = ", ".join(names[i] for i in sorted(t - s)) or "none"
        only_s = ", ".join(names[i] for i in sorted(s - t)) or "none"
        raise ConfigError(
            source, f"teacher and student classes differ (teacher only: {only_t}; student only: {only_s})"
        )
    empty = [names[i] for i in range(len(names)) if i not in t]
    if empty:
        raise ConfigError(source, f"class {empty[0]} has no images for the teacher or the student: the class is empty")
    return [names[i] for i in sorted(t)]
