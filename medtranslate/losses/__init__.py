"""Losses for translation, despeckling, super-resolution, VAEs and distillation; logits-based and autocast-safe.

See docs/losses.md for the formulas, defaults and which seed uses which loss.
"""

from __future__ import annotations

from .adversarial import AdversarialLoss, gradient_penalty
from .channels import luminance, match_channels
from .cycle import CycleLoss
from .distillation import ClassPrototypeLoss, ClassSimilarityAlignmentLoss, DistillationObjective, KLDistillationLoss
from .gradient import GradientLoss, spatial_gradients
from .identity import IdentityLoss
from .vae import VAELoss

__all__ = [
    "AdversarialLoss",
    "ClassPrototypeLoss",
    "ClassSimilarityAlignmentLoss",
    "CycleLoss",
    "GradientLoss",
    "IdentityLoss",
    "KLDistillationLoss",
    "DistillationObjective",
    "VAELoss",
    "gradient_penalty",
    "luminance",
    "match_channels",
    "spatial_gradients",
]
