"""Training engines: CycleGAN, pix2pix and supervised trainers on ``monai.engines``, with exact resume and DDP."""

from __future__ import annotations

from medtranslate.engines.amp import autocast, make_grad_scaler, resolve_amp
from medtranslate.engines.checkpoint import (
    CheckpointHandler,
    list_checkpoints,
    load_checkpoint,
    load_network,
    resolve_checkpoint,
    save_checkpoint,
)
from medtranslate.engines.cyclegan import CycleGANTrainer
from medtranslate.engines.distributed import (
    cleanup_distributed,
    get_rank,
    get_world_size,
    init_distributed,
    is_main_process,
    unwrap,
    wrap_ddp,
)
from medtranslate.engines.errors import TrainingError
from medtranslate.engines.handlers import (
    BundleExportHandler,
    LossPlotHandler,
    NanGuard,
    ProgressHandler,
    ProgressivePatchSize,
    SampleSaver,
    TensorBoardLossHandler,
    TimeLimit,
    TranslationValidationHandler,
    loss_scalars,
)
from medtranslate.engines.image_pool import ImagePool
from medtranslate.engines.pix2pix import Pix2PixTrainer
from medtranslate.engines.sampler import ResumableSampler
from medtranslate.engines.schedulers import LinearDecayLR, linear_decay_factor
from medtranslate.engines.supervised import ResumableSupervisedTrainer

__all__ = [
    "CycleGANTrainer",
    "Pix2PixTrainer",
    "ResumableSupervisedTrainer",
    "ImagePool",
    "LinearDecayLR",
    "linear_decay_factor",
    "ResumableSampler",
    "CheckpointHandler",
    "save_checkpoint",
    "load_checkpoint",
    "load_network",
    "resolve_checkpoint",
    "list_checkpoints",
    "TrainingError",
    "resolve_amp",
    "autocast",
    "make_grad_scaler",
    "init_distributed",
    "cleanup_distributed",
    "wrap_ddp",
    "unwrap",
    "get_rank",
    "get_world_size",
    "is_main_process",
    "BundleExportHandler",
    "LossPlotHandler",
    "NanGuard",
    "ProgressHandler",
    "ProgressivePatchSize",
    "TimeLimit",
    "SampleSaver",
    "TensorBoardLossHandler",
    "TranslationValidationHandler",
    "loss_scalars",
]
