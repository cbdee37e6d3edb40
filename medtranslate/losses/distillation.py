"""Cross-modal distillation losses for an OCT teacher and a fundus student (seed 002).

Seed 002 takes its losses from Wang et al. 2023, "Fundus-Enhanced Disease-Aware Distillation Model for Retinal
Disease Classification from OCT Images" (FDDM, arXiv:2308.00291): KL distillation, class prototype matching and class
similarity alignment. FDDM distils fundus -> OCT; the seed reverses the roles, which the losses do not care about:
"teacher" and "student" are whatever the caller passes. The definitions follow the paper's method sections and the
authors' reference code (xmed-lab/FDDM, ``train.py``). The two modalities are unpaired: the teacher and student
batches are different images with their own labels, matched only through their classes.

Labels may be class indices ``(B,)`` or multi-hot ``(B, K)`` (FDDM is multi-label). Teacher tensors are detached:
the distillation terms train the student only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._precision import float32_region

__all__ = [
    "ClassPrototypeLoss",
    "ClassSimilarityAlignmentLoss",
    "DistillationObjective",
    "KLDistillationLoss",
    "kd_kl",
    "class_means",
]


def kd_kl(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """Hinton's distillation term ``T^2 * KL(softmax(teacher / T) || softmax(student / T))``, batch-mean.

    The softmax runs over the last dimension; the KL is summed over it and averaged over the rows.

    Args:
        student: rows of student scores, shape ``(N, K)``.
        teacher: rows of teacher scores, same shape.
        temperature: softening temperature ``T``.

    Returns:
        The scalar loss.
    """
    log_p_s = F.log_softmax(student / temperature, dim=-1)
    log_p_t = F.log_softmax(teacher / temperature, dim=-1)
    kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(dim=-1).mean()
    return kl * temperature**2


def _one_hot(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    if labels.dim() == 2:
        if labels.shape[1] != num_classes:
            raise ValueError(f"multi-hot labels of shape {tuple(labels.shape)} do not have {num_classes} classes")
        return labels.float()
    if labels.dim() != 1:
        raise ValueError(f"labels must be (B,) class indices or (B, K) multi-hot, got shape {tuple(labels.shape)}")
    return F.one_hot(labels.long(), num_classes).float()


def _num_classes(num_classes: int | None, *labels: torch.Tensor) -> int:
    if num_classes is not None:
        return num_classes
    for lab in labels:
        if lab.dim() == 2:
            return lab.shape[1]
    return max(int(lab.max().item()) for lab in labels) + 1


def class_means(
    values: torch.Tensor, labels: torch.Tensor, num_classes: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of ``values`` over the samples of each class.

    Args:
        values: per-sample vectors, shape ``(B, D)``.
        labels: ``(B,)`` class indices or ``(B, K)`` multi-hot (a sample counts for each of its classes).
        num_classes: ``K`` (inferred from multi-hot labels or the largest index when ``None``).

    Returns:
        ``(means, present)``: means of shape ``(K, D)`` (zero rows for absent classes) and a ``(K,)`` bool mask of
        the classes with at least one sample.

    Raises:
        ValueError: on labels of the wrong shape.
    """
    onehot = _one_hot(labels, _num_classes(num_classes, labels)).to(values.dtype)
    counts = onehot.sum(dim=0)
    means = onehot.t() @ values / counts.clamp_min(1.0).unsqueeze(1)
    return means, counts > 0


class KLDistillationLoss(nn.Module):
    """Logit distillation: ``T^2 * KL(softmax(z_t / T) || softmax(z_s / T))``, averaged over the batch.

    The classic knowledge-distillation term (Hinton et al. 2015) that FDDM keeps as its baseline (``loss_fn_kd`` in
    the reference code, with FDDM's default ``T = 1``). It needs paired samples: the teacher's logits for the same
    images, or for images of the same class.

    Args:
        temperature: softening temperature ``T`` (> 0).

    Raises:
        ValueError: when ``temperature <= 0``.
    """

    def __init__(self, temperature: float = 1.0) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)

    def forward(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            student_logits: shape ``(B, K)``.
            teacher_logits: shape ``(B, K)`` (detached here).

        Returns:
            The scalar loss, float32.

        Raises:
            ValueError: on a shape mismatch.
        """
        if student_logits.shape != teacher_logits.shape:
            raise ValueError(
                f"student logits {tuple(student_logits.shape)} and teacher logits {tuple(teacher_logits.shape)} differ"
            )
        with float32_region(student_logits):
            return kd_kl(student_logits.float(), teacher_logits.detach().float(), self.temperature)


class ClassPrototypeLoss(nn.Module):
    """Class prototype matching (FDDM, "Class Prototype Matching").

    For every class present in both batches, the prototype is the mean feature vector of that class's samples:
    ``p_k^s`` for the student, ``p_k^t`` for the teacher. The student prototypes are matched to the teacher's with
    the distillation KL over the feature dimension, ``T^2 * KL(softmax(p_k^t / T) || softmax(p_k^s / T))`` averaged
    over classes. With ``split_dims=True`` (FDDM's reference code) the feature dimensions are first split into a major
    part (dimensions whose mean student-prototype activation exceeds the mean over all dimensions) and a minor part,
    and the KL is taken on each part separately and summed, so that a few dominant dimensions do not swamp the rest.

    Student and teacher features must have the same size: give the student a projection head
    (``build_classifier(..., projection_dim=teacher_dim)``, FDDM's alignment MLP). Returns 0 (still attached to the
    graph) when the batches share no class. FDDM weights this term with ``alpha = 2``.

    Args:
        temperature: softening temperature ``T`` (> 0).
        split_dims: split the dimensions into major / minor parts.
        num_classes: number of classes, for index labels (inferred when ``None``).

    Raises:
        ValueError: when ``temperature <= 0``.
    """

    def __init__(self, temperature: float = 1.0, split_dims: bool = True, num_classes: int | None = None) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)
        self.split_dims = split_dims
        self.num_classes = num_classes

    def forward(
        self,
        student_features: torch.Tensor,
        teacher_features: torch.Tensor,
        student_labels: torch.Tensor,
        teacher_labels: torch.Tensor,
    ) -> torch.Tensor:
        """Compute the loss.

        Args:
            student_features: shape ``(B_s, D)``.
            teacher_features: shape ``(B_t, D)`` (detached here).
            student_labels: ``(B_s,)`` indices or ``(B_s, K)`` multi-hot.
            teacher_labels: ``(B_t,)`` indices or ``(B_t, K)`` multi-hot.

        Returns:
            The scalar loss, float32.

        Raises:
            ValueError: when the feature sizes differ.
        """
        if student_features.shape[1:] != teacher_features.shape[1:]:
            raise ValueError(
                f"student features {tuple(student_features.shape)} and teacher features "
                f"{tuple(teacher_features.shape)} differ in size; add a projection head to the student"
            )
        k = _num_classes(self.num_classes, student_labels, teacher_labels)
        with float32_region(student_features):
            p_s, has_s = class_means(student_features.float(), student_labels, k)
            p_t, has_t = class_means(teacher_features.detach().float(), teacher_labels, k)
            common = has_s & has_t
            if not bool(common.any()):
                return student_features.float().sum() * 0.0
            p_s, p_t = p_s[common], p_t[common]
            if not self.split_dims:
                return kd_kl(p_s, p_t, self.temperature)
            dim_mean = p_s.detach().mean(dim=0)
            major = dim_mean > dim_mean.mean()
            loss = p_s.sum() * 0.0
            for part in (major, ~major):
                if bool(part.any()):
                    loss = loss + kd_kl(p_s[:, part], p_t[:, part], self.temperature)
            return loss


class ClassSimilarityAlignmentLoss(nn.Module):
    """Class similarity alignment (FDDM, "Class Similarity Alignment").

    For every class present in both batches, the class representation is the mean logit vector of its samples.
    Cosine similarities between these representations give a class-similarity matrix per model, ``S^s`` and ``S^t``
    (``K' x K'``). Each row of the student's matrix is aligned to the teacher's with the distillation KL,
    ``T^2 * KL(softmax(S^t_i / T) || softmax(S^s_i / T))`` averaged over rows, so that the student learns which
    diseases the teacher finds alike. FDDM weights this term with ``beta = 1``.

    Args:
        temperature: softening temperature ``T`` (> 0).
        num_classes: number of classes, for index labels (inferred when ``None``).

    Raises:
        ValueError: when ``temperature <= 0``.
    """

    def __init__(self, temperature: float = 1.0, num_classes: int | None = None) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)
        self.num_classes = num_classes

    def forward(
        self,
        student_logits: torch.Tensor,
        teacher_logits: torch.Tensor,
        student_labels: torch.Tensor,
        teacher_labels: torch.Tensor,
    ) -> torch.Tensor:
        """Compute the loss.

        Args:
            student_logits: shape ``(B_s, K)``.
            teacher_logits: shape ``(B_t, K)`` (detached here).
            student_labels: ``(B_s,)`` indices or ``(B_s, K)`` multi-hot.
            teacher_labels: ``(B_t,)`` indices or ``(B_t, K)`` multi-hot.

        Returns:
            The scalar loss, float32 (0 when fewer than two classes are shared).

        Raises:
            ValueError: when the number of logits differs.
        """
        if student_logits.shape[1:] != teacher_logits.shape[1:]:
            raise ValueError(
                f"student logits {tuple(student_logits.shape)} and teacher logits {tuple(teacher_logits.shape)} "
                "have different numbers of classes"
            )
        k = _num_classes(self.num_classes, student_labels, teacher_labels)
        with float32_region(student_logits):
            q_s, has_s = class_means(student_logits.float(), student_labels, k)
            q_t, has_t = class_means(teacher_logits.detach().float(), teacher_labels, k)
            common = has_s & has_t
            if int(common.sum()) < 2:
                return student_logits.float().sum() * 0.0
            q_s, q_t = q_s[common], q_t[common]
            s_s = F.cosine_similarity(q_s.unsqueeze(1), q_s.unsqueeze(0), dim=-1)
            s_t = F.cosine_similarity(q_t.unsqueeze(1), q_t.unsqueeze(0), dim=-1)
            return kd_kl(s_s, s_t, self.temperature)


class DistillationObjective(nn.Module):
    """A classifier's whole training loss: cross-entropy plus the weighted FDDM distillation terms.

    ``loss(pred, target, teacher_pred=None) = CE(z_s, y) + lambda_kd * KL(z_s, z_t) + lambda_csa * CSA(z_s, z_t)
    + lambda_cpm * CPM(f_s, f_t)``, where ``pred = (z_s, f_s)`` and ``teacher_pred = (z_t, f_t)`` are
    ``(logits, features)`` pairs (:class:`~medtranslate.networks.FeatureClassifier`). Without a teacher prediction, or
    with every lambda 0, it is plain cross-entropy: the same object trains the teacher and the student without
    distillation. The teacher's images are of the same class as the student's, row by row (unpaired, class-matched, as
    seed 002 needs), so the teacher rows take the student's labels. Fits
    :class:`~medtranslate.engines.ResumableSupervisedTrainer`'s ``loss_function(pred, target, teacher_pred)``.

    Args:
        lambda_kd: weight of :class:`KLDistillationLoss`.
        lambda_csa: weight of :class:`ClassSimilarityAlignmentLoss` (FDDM's beta = 1).
        lambda_cpm: weight of :class:`ClassPrototypeLoss` (FDDM's alpha = 2).
        temperature: temperature of all three terms.
        num_classes: number of classes.
    """

    def __init__(
        self,
        lambda_kd: float = 0.0,
        lambda_csa: float = 0.0,
        lambda_cpm: float = 0.0,
        temperature: float = 4.0,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        self.weights = (float(lambda_kd), float(lambda_csa), float(lambda_cpm))
        self.kd = KLDistillationLoss(temperature)
        self.csa = ClassSimilarityAlignmentLoss(temperature, num_classes)
        self.cpm = ClassPrototypeLoss(temperature, num_classes=num_classes)

    @property
    def distils(self) -> bool:
        """Whether any distillation term has a non-zero weight."""
        return any(w != 0 for w in self.weights)

    def forward(
        self,
        pred: tuple[torch.Tensor, torch.Tensor] | torch.Tensor,
        target: torch.Tensor,
        teacher_pred: tuple[torch.Tensor, torch.Tensor] | torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Compute the loss.

        Args:
            pred: the student's ``(logits, features)`` (or logits alone).
            target: ``(B,)`` class indices.
            teacher_pred: the teacher's ``(logits, features)`` on class-matched images, or ``None``.

        Returns:
            The scalar loss, float32.
        """
        logits, feats = pred if isinstance(pred, (tuple, list)) else (pred, None)
        loss = F.cross_entropy(logits.float(), target.long())
        if teacher_pred is None or not self.distils:
            return loss
        t_logits, t_feats = teacher_pred if isinstance(teacher_pred, (tuple, list)) else (teacher_pred, None)
        w_kd, w_csa, w_cpm = self.weights
        if w_kd:
            loss = loss + w_kd * self.kd(logits, t_logits)
        if w_csa:
            loss = loss + w_csa * self.csa(logits, t_logits, target, target)
        if w_cpm and feats is not None and t_feats is not None:
            loss = loss + w_cpm * self.cpm(feats, t_feats, target, target)
        return loss
