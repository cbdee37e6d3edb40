"""Ignite handlers for medtranslate's trainers: checkpoints live in ``engines.checkpoint``, the rest here."""

from __future__ import annotations

from medtranslate.engines.handlers.bundle_export import BundleExportHandler
from medtranslate.engines.handlers.loss_plot import LossPlotHandler
from medtranslate.engines.handlers.nan_guard import NanGuard, finite_loss_values
from medtranslate.engines.handlers.oom import out_of_memory_error, report_out_of_memory
from medtranslate.engines.handlers.outputs import loss_scalars
from medtranslate.engines.handlers.patch_schedule import ProgressivePatchSize
from medtranslate.engines.handlers.progress import ProgressHandler
from medtranslate.engines.handlers.samples import SampleSaver
from medtranslate.engines.handlers.tensorboard import TensorBoardLossHandler
from medtranslate.engines.handlers.time_limit import TimeLimit
from medtranslate.engines.handlers.validation import TranslationValidationHandler

__all__ = [
    "BundleExportHandler",
    "LossPlotHandler",
    "NanGuard",
    "finite_loss_values",
    "out_of_memory_error",
    "report_out_of_memory",
    "loss_scalars",
    "ProgressivePatchSize",
    "ProgressHandler",
    "SampleSaver",
    "TensorBoardLossHandler",
    "TimeLimit",
    "TranslationValidationHandler",
]
