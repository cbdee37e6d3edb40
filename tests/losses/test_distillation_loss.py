"""Distillation losses (seed 002, FDDM) against values worked out by hand from the definitions."""

from __future__ import annotations

import math

import pytest
import torch

from medtranslate.losses import ClassPrototypeLoss, ClassSimilarityAlignmentLoss, KLDistillationLoss


def _softmax(v: list[float]) -> list[float]:
    e = [math.exp(a) for a in v]
    return [a / sum(e) for a in e]


def _kl(p: list[float], q: list[float]) -> float:
    return sum(a * math.log(a / b) for a, b in zip(p, q))


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_kl_distillation_hand_computed(temperature):
    student = torch.tensor([[0.0, 0.0]], requires_grad=True)
    teacher = torch.tensor([[math.log(3.0), 0.0]], requires_grad=True)
    # T = 1: p_t = (3/4, 1/4), p_s = (1/2, 1/2); T = 2: p_t = (sqrt3, 1) / (sqrt3 + 1)
    r = math.sqrt(3.0) if temperature == 2.0 else 3.0
    p_t = [r / (r + 1), 1 / (r + 1)]
    expected = temperature**2 * (p_t[0] * math.log(p_t[0] / 0.5) + p_t[1] * math.log(p_t[1] / 0.5))
    loss = KLDistillationLoss(temperature)(student, teacher)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    assert student.grad.abs().sum() > 0 and teacher.grad is None  # the teacher is not trained by distillation


def test_kl_distillation_batch_mean_and_zero():
    z = torch.randn(4, 5)
    assert KLDistillationLoss(3.0)(z, z.clone()).item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="differ"):
        KLDistillationLoss()(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="temperature"):
        KLDistillationLoss(0.0)


# Prototype example. Student: class 0 samples [4,0,0,0] and [2,2,0,0] -> p0 = [3,1,0,0]; class 1 sample [1,3,0,0].
# Teacher (another batch, unpaired): p0 = [2,2,0,1], p1 = [2,2,1,0]; a class-2 teacher sample has no student match.
STUDENT_FEATS = [[4.0, 0, 0, 0], [2.0, 2, 0, 0], [1.0, 3, 0, 0]]
STUDENT_LABELS = [0, 0, 1]
TEACHER_FEATS = [[2.0, 2, 0, 1], [2.0, 2, 1, 0], [9.0, -9, 9, 9]]
TEACHER_LABELS = [0, 1, 2]


def _prototype_expected(split: bool) -> float:
    ps = [[3.0, 1, 0, 0], [1.0, 3, 0, 0]]
    pt = [[2.0, 2, 0, 1], [2.0, 2, 1, 0]]
    if not split:
        return sum(_kl(_softmax(t), _softmax(s)) for s, t in zip(ps, pt)) / 2
    # mean student prototype per dimension: [2, 2, 0, 0], its mean 1 -> major dims {0, 1}, minor {2, 3}
    major = sum(_kl(_softmax(t[:2]), _softmax(s[:2])) for s, t in zip(ps, pt)) / 2
    minor = sum(_kl(_softmax(t[2:]), _softmax(s[2:])) for s, t in zip(ps, pt)) / 2
    return major + minor


@pytest.mark.parametrize("split", [True, False])
@pytest.mark.parametrize("multi_hot", [False, True])
def test_class_prototype_hand_computed(split, multi_hot):
    s_lab, t_lab = torch.tensor(STUDENT_LABELS), torch.tensor(TEACHER_LABELS)
    if multi_hot:
        s_lab, t_lab = torch.nn.functional.one_hot(s_lab, 3), torch.nn.functional.one_hot(t_lab, 3)
    feats = torch.tensor(STUDENT_FEATS, requires_grad=True)
    loss = ClassPrototypeLoss(split_dims=split)(feats, torch.tensor(TEACHER_FEATS), s_lab, t_lab)
    assert loss.item() == pytest.approx(_prototype_expected(split), rel=1e-5)
    loss.backward()
    assert feats.grad.abs().sum() > 0


def test_class_prototype_multi_label_sample_counts_for_each_class():
    feats = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([[1, 1], [0, 1]])  # sample 0 has both diseases
    loss = ClassPrototypeLoss(split_dims=False)(feats, feats, labels, labels)
    assert loss.item() == pytest.approx(0.0, abs=1e-7)


def test_class_prototype_no_common_class_is_zero_with_grad():
    feats = torch.rand(2, 4, requires_grad=True)
    loss = ClassPrototypeLoss()(feats, torch.rand(2, 4), torch.tensor([0, 0]), torch.tensor([1, 1]))
    assert loss.item() == 0.0
    loss.backward()
    assert feats.grad is not None


def test_class_prototype_size_mismatch():
    with pytest.raises(ValueError, match="projection head"):
        ClassPrototypeLoss()(torch.rand(2, 4), torch.rand(2, 8), torch.tensor([0, 1]), torch.tensor([0, 1]))


def test_class_similarity_alignment_hand_computed():
    # student class means q0 = [1, 0], q1 = [0, 1] -> cosine matrix I; teacher q0 = q1 = [1, 0] -> all ones.
    student = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 3.0]], requires_grad=True)
    s_lab = torch.tensor([0, 1, 1])
    teacher = torch.tensor([[2.0, 0.0], [1.0, 0.0]])
    t_lab = torch.tensor([0, 1])
    row = _kl([0.5, 0.5], _softmax([1.0, 0.0]))  # both rows give the same value
    loss = ClassSimilarityAlignmentLoss()(student, teacher, s_lab, t_lab)
    assert loss.item() == pytest.approx(row, rel=1e-5)
    loss.backward()
    assert student.grad.abs().sum() > 0


def test_class_similarity_alignment_temperature_and_identity():
    student = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    teacher = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    labels = torch.tensor([0, 1])
    loss = ClassSimilarityAlignmentLoss(temperature=2.0)(student, teacher, labels, labels)
    assert loss.item() == pytest.approx(4 * _kl([0.5, 0.5], _softmax([0.5, 0.0])), rel=1e-5)
    z = torch.randn(6, 3)
    lab = torch.tensor([0, 1, 2, 0, 1, 2])
    assert ClassSimilarityAlignmentLoss()(z, z.clone(), lab, lab).item() == pytest.approx(0.0, abs=1e-6)
    # fewer than two shared classes: nothing to align
    assert ClassSimilarityAlignmentLoss()(z, z, torch.zeros(6), torch.zeros(6)).item() == 0.0


def test_losses_under_bf16_autocast():
    with torch.autocast("cpu", dtype=torch.bfloat16):
        lin = torch.nn.Linear(4, 3)
        logits = lin(torch.rand(4, 4))
        assert logits.dtype == torch.bfloat16
        labels = torch.tensor([0, 1, 2, 0])
        values = [
            KLDistillationLoss(2.0)(logits, torch.randn(4, 3)),
            ClassSimilarityAlignmentLoss()(logits, torch.randn(4, 3), labels, labels),
            ClassPrototypeLoss()(logits, torch.randn(4, 3), labels, labels),
        ]
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in values)


def test_distillation_objective_is_cross_entropy_without_teacher():
    import torch.nn.functional as F

    from medtranslate.losses import DistillationObjective

    torch.manual_seed(0)
    logits, feats = torch.randn(6, 4, requires_grad=True), torch.randn(6, 8, requires_grad=True)
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    plain = DistillationObjective(num_classes=4)
    ce = F.cross_entropy(logits, y)
    assert not plain.distils and torch.allclose(plain((logits, feats), y), ce)
    assert torch.allclose(plain((logits, feats), y, (torch.randn(6, 4), torch.randn(6, 8))), ce)
    full = DistillationObjective(1.0, 1.0, 2.0, temperature=2.0, num_classes=4)
    t = (torch.randn(6, 4), torch.randn(6, 8))
    loss = full((logits, feats), y, t)
    assert full.distils and loss > ce
    loss.backward()
    assert feats.grad is not None and feats.grad.abs().sum() > 0  # prototype matching reaches the features
    same = full((t[0].clone().requires_grad_(), t[1].clone()), y, t)
    assert torch.allclose(same, F.cross_entropy(t[0], y), atol=1e-5)  # a student equal to its teacher: CE only
