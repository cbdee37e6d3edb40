"""Workflows: the runtimes that bundles' configs run, from files to translated files and metric reports.

:class:`TranslationWorkflow` (``inference.json``, id ``translator``) translates image files and DICOM series;
:class:`EvaluationWorkflow` (``evaluate.json``, id ``evaluator``) translates a datalist's test split (or scores a
restoration network on corrupted copies of clean images, as confocal2he's despeckler) and computes the metrics and
figures each bundle declares; :class:`FundusSynthesisWorkflow` (``synthesize.json``, id ``synthesizer``) generates
fundus image / vessel mask pairs; :class:`WholeSlideStainWorkflow` stains two-mode confocal whole slides. Workflows
sit above io, data, transforms, inferers, metrics and modelio, and never import engines (training). See
docs/architecture.md.
"""

from __future__ import annotations

from medtranslate.workflows.enface import EnFaceProjection
from medtranslate.workflows.evaluation import (
    DerivedValue,
    EvaluationPass,
    EvaluationWorkflow,
    FigureEntry,
    MetricEntry,
)
from medtranslate.workflows.registration import RegistrationResult, describe_pair, register_counterparts
from medtranslate.workflows.synthesis import MANIFEST_NAME, FundusSynthesisWorkflow, SynthesisResult, load_stage
from medtranslate.workflows.synthesis_evaluation import SynthesisEvaluation
from medtranslate.workflows.translation import (
    OUTPUT_SUFFIXES,
    TranslatedItem,
    TranslationDirection,
    TranslationResult,
    TranslationWorkflow,
    load_direction_weights,
)
from medtranslate.workflows.weights import load_checkpoint_network
from medtranslate.workflows.whole_slide import (
    ConfocalStainNetwork,
    SlideResult,
    WholeSlideStainWorkflow,
    find_mode_pairs,
    unknown_direction,
)

__all__ = [
    "EnFaceProjection",
    "EvaluationPass",
    "EvaluationWorkflow",
    "FigureEntry",
    "FundusSynthesisWorkflow",
    "MANIFEST_NAME",
    "SynthesisResult",
    "SynthesisEvaluation",
    "load_stage",
    "MetricEntry",
    "OUTPUT_SUFFIXES",
    "TranslatedItem",
    "TranslationDirection",
    "TranslationResult",
    "TranslationWorkflow",
    "load_direction_weights",
    "DerivedValue",
    "load_checkpoint_network",
    "ConfocalStainNetwork",
    "SlideResult",
    "WholeSlideStainWorkflow",
    "find_mode_pairs",
    "unknown_direction",
    "RegistrationResult",
    "describe_pair",
    "register_counterparts",
]
