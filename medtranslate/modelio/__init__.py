"""Model I/O beneath both training (engines) and inference (inferers, workflows).

Loading weights (``torch.load(..., weights_only=True)``), resolving a checkpoint folder to its newest file, reading
one network's weights out of a trainer checkpoint, atomic torch saves, and the self-describing bundle a training run
writes (:mod:`medtranslate.modelio.bundle`). Engines and workflows import this package; inference
never imports engines. See docs/architecture.md.
"""

from __future__ import annotations

from medtranslate.modelio.bundle import (
    checkpoint_settings,
    merge_settings,
    stage_settings,
    write_bundle_configs,
    write_bundle_weights,
)
from medtranslate.modelio.checkpoint import (
    atomic_save_torch,
    find_checkpoint,
    list_checkpoints,
    load_network,
    network_state,
    read_checkpoint,
    resolve_checkpoint,
    stage_checkpoint,
    unwrap,
)

__all__ = [
    "atomic_save_torch",
    "checkpoint_settings",
    "find_checkpoint",
    "list_checkpoints",
    "load_network",
    "merge_settings",
    "network_state",
    "read_checkpoint",
    "resolve_checkpoint",
    "stage_settings",
    "unwrap",
    "write_bundle_configs",
    "write_bundle_weights",
    "stage_checkpoint",
]
