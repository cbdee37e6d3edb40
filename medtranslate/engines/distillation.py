"""Seed 002's distillation study: an OCT teacher, then fundus students with and without distillation, over seeds.

The study is generic (any teacher / student modality, any :class:`~medtranslate.networks.FeatureClassifier`); the
fundus2oct bundle's ``configs/distill.json`` wires it. Every run of one seed uses the same split, the same student
initialisation and the same batches with and without distillation (the distilled run differs only by its loss), so
the per-seed difference isolates what distillation changes. Scores: accuracy, macro-F1 and per-class AUC with a
Student-t confidence interval across seeds, and the interval of the paired difference (distilled - plain).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from monai.data import CacheDataset
from monai.utils import set_determinism
from torch import nn
from torch.utils.data import DataLoader

from medtranslate.data.class_matched import ClassMatchedDataset
from medtranslate.engines.amp import autocast, resolve_amp
from medtranslate.engines.supervised import ResumableSupervisedTrainer
from medtranslate.losses.distillation import DistillationObjective
from medtranslate.metrics.classification import classification_scores, mean_ci
from medtranslate.utils.atomic import atomic_path

__all__ = ["DistillationStudy", "predict_probabilities", "train_classifier"]

logger = logging.getLogger(__name__)


def train_classifier(
    network: nn.Module,
    dataset: torch.utils.data.Dataset,
    epochs: int,
    loss: Callable,
    lr: float = 1e-3,
    batch_size: int = 16,
    seed: int = 0,
    device: str | torch.device = "cpu",
    amp: str | None = None,
    teacher: nn.Module | None = None,
    teacher_key: str | None = None,
    label_key: str = "class",
) -> nn.Module:
    """Train a classifier with :class:`ResumableSupervisedTrainer` (Adam, shuffled batches seeded by ``seed``).

    Args:
        network: the classifier (returns ``(logits, features)``).
        dataset: yields dicts with ``image`` and ``label_key`` (and ``teacher_key`` for distillation).
        epochs: epochs to train.
        loss: ``loss(pred, target)`` or, with a teacher, ``loss(pred, target, teacher_pred)``.
        lr: Adam's learning rate.
        batch_size: batch size.
        seed: seed of the batch order.
        device: where to train.
        amp: ``"bf16"``, ``"fp16"`` or ``None``.
        teacher: a frozen teacher for distillation.
        teacher_key: batch key of the teacher's images.
        label_key: batch key of the class index.

    Returns:
        The trained network (in eval mode).
    """
    network = network.to(device)
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(int(seed)),
        drop_last=False,
    )
    trainer = ResumableSupervisedTrainer(
        device=torch.device(device),
        max_epochs=int(epochs),
        train_data_loader=loader,
        network=network,
        optimizer=torch.optim.Adam(network.parameters(), lr=lr),
        loss_function=loss,
        label_key=label_key,
        teacher=None if teacher is None else teacher.to(device),
        teacher_key=teacher_key,
        amp=amp,
    )
    trainer.run()
    return network.eval()


@torch.no_grad()
def predict_probabilities(
    network: nn.Module,
    images: torch.utils.data.Dataset | Sequence[Any],
    device: str | torch.device = "cpu",
    amp: str | None = None,
    batch_size: int = 32,
    image_key: str = "image",
) -> torch.Tensor:
    """Softmax class probabilities of a classifier on a set of images.

    Args:
        network: returns logits or ``(logits, features)``.
        images: a dataset of dicts (``image_key``) or of tensors ``(C, H, W)``.
        device: where to run.
        amp: autocast dtype name.
        batch_size: images per forward pass.
        image_key: the image's key in dict items.

    Returns:
        ``(N, K)`` float32 probabilities on the CPU.
    """
    network = network.to(device).eval()
    dtype = resolve_amp(amp)
    out = []
    items = [images[i] for i in range(len(images))]
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        x = torch.stack([torch.as_tensor(c[image_key] if isinstance(c, dict) else c).float() for c in chunk])
        with autocast(torch.device(device), dtype):
            pred = network(x.to(device))
        logits = pred[0] if isinstance(pred, (tuple, list)) else pred
        out.append(torch.softmax(logits.float(), dim=1).cpu())
    return torch.cat(out) if out else torch.zeros(0)


class DistillationStudy:
    """Teacher, then students with and without distillation, for each seed; a table with confidence intervals.

    Args:
        teacher_def: builds a fresh teacher network (e.g. ``build_classifier`` for 1-channel OCT), called per seed.
        student_def: builds a fresh student network (3-channel fundus), called twice per seed under the same seed.
        teacher_train: teacher training items (``image`` path and ``class`` index).
        student_train: student training items.
        student_test: student test items (the scores).
        class_names: the class names, in index order.
        teacher_transform: loads and normalises a teacher item (dict transform on ``image``).
        student_transform: loads and normalises a student item.
        objective: the distilled student's loss (its lambdas); the teacher and the plain student use its
            cross-entropy alone.
        teacher_test: teacher test items (reported as the teacher's own accuracy), optional.
        seeds: the seeds (>= 3 for an interval worth reading).
        teacher_epochs: teacher training epochs.
        student_epochs: student training epochs.
        lr: Adam learning rate of every network.
        batch_size: batch size.
        device: where to train.
        amp: autocast dtype name (``"bf16"`` halves the time on CPUs with AMX).
        output_dir: where ``distillation.json``, ``distillation.md`` and the teachers' weights go (``None``: nowhere).
        confidence: coverage of the intervals.
    """

    def __init__(
        self,
        teacher_def: Callable[[], nn.Module],
        student_def: Callable[[], nn.Module],
        teacher_train: Sequence[dict[str, Any]],
        student_train: Sequence[dict[str, Any]],
        student_test: Sequence[dict[str, Any]],
        class_names: Sequence[str],
        teacher_transform: Callable,
        student_transform: Callable,
        objective: DistillationObjective,
        teacher_test: Sequence[dict[str, Any]] | None = None,
        seeds: Sequence[int] = (0, 1, 2),
        teacher_epochs: int = 20,
        student_epochs: int = 20,
        lr: float = 1e-3,
        batch_size: int = 16,
        device: str | torch.device = "cpu",
        amp: str | None = None,
        output_dir: str | os.PathLike | None = None,
        confidence: float = 0.95,
    ) -> None:
        self.teacher_def, self.student_def = teacher_def, student_def
        self.teacher_train, self.student_train = list(teacher_train), list(student_train)
        self.student_test, self.teacher_test = list(student_test), list(teacher_test or [])
        self.class_names = [str(c) for c in class_names]
        self.teacher_transform, self.student_transform = teacher_transform, student_transform
        self.objective = objective
        self.plain = DistillationObjective(num_classes=len(self.class_names))
        self.seeds = [int(s) for s in seeds]
        self.teacher_epochs, self.student_epochs = int(teacher_epochs), int(student_epochs)
        self.lr, self.batch_size = float(lr), int(batch_size)
        self.device, self.amp = device, amp
        self.output_dir = None if output_dir is None else Path(output_dir)
        self.confidence = float(confidence)
        self.teachers: dict[int, nn.Module] = {}
        self.result: dict[str, Any] | None = None

    def _cache(self, items: Sequence[dict[str, Any]], transform: Callable) -> CacheDataset:
        return CacheDataset(list(items), transform, progress=False, copy_cache=False)

    def run(self) -> dict[str, Any]:
        """Run every seed and summarise.

        Returns:
            ``{"per_seed": [...], "summary": {...}, "table": markdown text}``; also written to ``output_dir``.
        """
        teacher_data = self._cache(self.teacher_train, self.teacher_transform)
        student_test = self._cache(self.student_test, self.student_transform)
        teacher_test = self._cache(self.teacher_test, self.teacher_transform) if self.teacher_test else None
        y_test = torch.tensor([int(item["class"]) for item in self.student_test])
        per_seed = []
        for seed in self.seeds:
            set_determinism(seed=seed)
            teacher = train_classifier(
                self.teacher_def(),
                teacher_data,
                self.teacher_epochs,
                self.plain,
                self.lr,
                self.batch_size,
                seed,
                self.device,
                self.amp,
            )
            for p in teacher.parameters():
                p.requires_grad_(False)
            self.teachers[seed] = teacher
            row: dict[str, Any] = {"seed": seed}
            if teacher_test is not None:
                y_t = torch.tensor([int(item["class"]) for item in self.teacher_test])
                probs = predict_probabilities(teacher, teacher_test, self.device, self.amp)
                row["teacher_oct"] = classification_scores(probs, y_t, self.class_names)
            for name, distil in (("student_plain", False), ("student_distilled", True)):
                data = ClassMatchedDataset(
                    self.student_train,
                    self.teacher_train,
                    self.student_transform,
                    self.teacher_transform,
                    label_key="class",
                    seed=seed,
                )
                set_determinism(seed=seed)  # the same initial student for both runs
                student = train_classifier(
                    self.student_def(),
                    data,
                    self.student_epochs,
                    self.objective if distil else self.plain,
                    self.lr,
                    self.batch_size,
                    seed,
                    self.device,
                    self.amp,
                    teacher=teacher if distil else None,
                    teacher_key="teacher_image",
                )
                probs = predict_probabilities(student, student_test, self.device, self.amp)
                row[name] = classification_scores(probs, y_test, self.class_names)
            logger.info("distillation seed %d: %s", seed, json.dumps(row))
            per_seed.append(row)
        summary = self._summary(per_seed)
        result = {
            "classes": self.class_names,
            "seeds": self.seeds,
            "n_student_train": len(self.student_train),
            "n_teacher_train": len(self.teacher_train),
            "n_student_test": len(self.student_test),
            "objective": dict(zip(("lambda_kd", "lambda_csa", "lambda_cpm"), self.objective.weights)),
            "per_seed": per_seed,
            "summary": summary,
        }
        result["table"] = self.table(result)
        if self.output_dir is not None:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            with atomic_path(self.output_dir / "distillation.json") as tmp:
                tmp.write_text(json.dumps(result, indent=2, default=float) + "\n")
            with atomic_path(self.output_dir / "distillation.md") as tmp:
                tmp.write_text(result["table"])
        self.result = result
        return result

    def _summary(self, per_seed: list[dict[str, Any]]) -> dict[str, Any]:
        def metric_values(run: str) -> dict[str, list[float]]:
            out: dict[str, list[float]] = {"accuracy": [], "macro_f1": []}
            for name in self.class_names:
                out[f"AUC {name}"] = []
            for row in per_seed:
                if run not in row:
                    continue
                out["accuracy"].append(row[run]["accuracy"])
                out["macro_f1"].append(row[run]["macro_f1"])
                for name in self.class_names:
                    out[f"AUC {name}"].append(row[run]["auc"][name])
            return out

        summary: dict[str, Any] = {}
        runs = ["teacher_oct", "student_plain", "student_distilled"]
        values = {run: metric_values(run) for run in runs}
        for run in runs:
            summary[run] = {k: mean_ci(v, self.confidence) for k, v in values[run].items() if v}
        diff = {}
        for k in values["student_plain"]:
            d = [b - a for a, b in zip(values["student_plain"][k], values["student_distilled"][k])]
            diff[k] = mean_ci(d, self.confidence)
        summary["distilled_minus_plain"] = diff
        return summary

    def table(self, result: dict[str, Any]) -> str:
        """The comparison as a markdown table (mean and interval per metric; the paired difference last).

        Args:
            result: what :meth:`run` returns.

        Returns:
            The text.
        """
        s = result["summary"]
        pct = int(round(100 * self.confidence))

        def cell(v: tuple[float, float, float]) -> str:
            m, lo, hi = v
            return "n/a" if m != m else f"{m:.3f} [{lo:.3f}, {hi:.3f}]"

        keys = list(s["student_plain"])
        lines = [
            f"# OCT teacher -> fundus student: does distillation help? ({len(self.seeds)} seeds, mean [{pct}% CI])",
            "",
            f"Classes: {', '.join(self.class_names)}. Student train / test images: {result['n_student_train']} / "
            f"{result['n_student_test']}; teacher (OCT) train images: {result['n_teacher_train']}. "
            f"Distillation weights: {result['objective']}.",
            "",
            "| metric | teacher (OCT test) | student without distillation | student with distillation | "
            "distilled - plain (paired by seed) |",
            "|---|---|---|---|---|",
        ]
        for k in keys:
            t = s.get("teacher_oct", {}).get(k, (float("nan"),) * 3)
            lines.append(
                f"| {k} | {cell(t)} | {cell(s['student_plain'][k])} | {cell(s['student_distilled'][k])} | "
                f"{cell(s['distilled_minus_plain'][k])} |"
            )
        d = s["distilled_minus_plain"]["macro_f1"]
        if d[0] != d[0]:
            verdict = "no verdict (no scores)"
        elif d[1] > 0:
            verdict = "distillation helps here: the macro-F1 difference interval lies above 0"
        elif d[2] < 0:
            verdict = "distillation hurts here: the macro-F1 difference interval lies below 0"
        else:
            verdict = "no detectable effect of distillation: the macro-F1 difference interval contains 0"
        lines += ["", f"Verdict: {verdict}.", ""]
        return "\n".join(lines)
