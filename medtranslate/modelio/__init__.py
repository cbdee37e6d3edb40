"""Model I/O beneath both training (engines) and inference (inferers, workflows).

Loading weights (``torch.load(..., weights_only=True)``), resolving a checkpoint folder to its newest file, and
reading one network's weights out of a trainer checkpoint. Engines and workflows import this package; inference
never imports engines. See docs/architecture.md.
"""

from __future__ import annotations

from medtranslate.modelio.checkpoint import (
    list_checkpoints,
    load_network,
    network_state,
    read_checkpoint,
    resolve_checkpoint,
    unwrap,
)

__all__ = ["list_checkpoints", "load_network", "network_state", "read_checkpoint", "resolve_checkpoint", "unwrap"]
