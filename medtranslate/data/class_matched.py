"""Class-matched unpaired data for cross-modal distillation: each student image meets a teacher image of its class."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from monai.data import CacheDataset

from medtranslate.errors import InputError

__all__ = ["ClassMatchedDataset"]


class ClassMatchedDataset(torch.utils.data.Dataset):
    """Student items, each with a teacher item of the same class drawn reproducibly from ``(seed, epoch, i)``.

    Seed 002 distils an OCT teacher into a fundus student without pairs (Wang et al. 2023 reversed): the two
    modalities are linked by their class only. Item ``i`` is student image ``i`` under ``image_key`` with its class
    index under ``label_key``, and a teacher image of that class under ``teacher_key`` (the partner changes with the
    epoch; :meth:`set_epoch` is called by medtranslate's trainers). Both sides are transformed once and cached in
    memory (``CacheDataset``).

    Args:
        student_data: student items with a ``class`` index (see :func:`medtranslate.data.classes.class_index`).
        teacher_data: teacher items with a ``class`` index; every student class must have teacher items.
        student_transform: deterministic transform of a student item (loads its ``image``).
        teacher_transform: deterministic transform of a teacher item.
        image_key: output key of the student image.
        label_key: output key of the class index.
        teacher_key: output key of the teacher image.
        seed: seed of the pairing.

    Raises:
        InputError: when a student class has no teacher image.
    """

    def __init__(
        self,
        student_data: Sequence[dict[str, Any]],
        teacher_data: Sequence[dict[str, Any]],
        student_transform: Callable | None = None,
        teacher_transform: Callable | None = None,
        image_key: str = "image",
        label_key: str = "label",
        teacher_key: str = "teacher_image",
        seed: int = 0,
    ) -> None:
        self.student = CacheDataset(list(student_data), student_transform, progress=False, copy_cache=False)
        self.teacher = CacheDataset(list(teacher_data), teacher_transform, progress=False, copy_cache=False)
        self.classes = [int(item["class"]) for item in student_data]
        by_class: dict[int, list[int]] = {}
        for j, item in enumerate(teacher_data):
            by_class.setdefault(int(item["class"]), []).append(j)
        missing = sorted(set(self.classes) - set(by_class))
        if missing:
            raise InputError(None, f"student class(es) {missing} have no teacher images to match")
        self.by_class = by_class
        self.image_key, self.label_key, self.teacher_key = image_key, label_key, teacher_key
        self.seed = int(seed)
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.student)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose pairing the items follow.

        Args:
            epoch: the epoch number.
        """
        self.epoch = int(epoch)

    def __getitem__(self, i: int) -> dict[str, Any]:
        c = self.classes[i]
        rng = np.random.default_rng([self.seed, self.epoch, int(i)])
        j = self.by_class[c][int(rng.integers(len(self.by_class[c])))]
        return {
            self.image_key: self.student[i]["image"],
            self.label_key: torch.tensor(c, dtype=torch.long),
            self.teacher_key: self.teacher[j]["image"],
        }
