"""Make a training run self-describing: settings in every checkpoint, a ready-to-use bundle beside the checkpoints."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ignite.engine import Events

from medtranslate.engines.distributed import is_main_process
from medtranslate.modelio import unwrap
from medtranslate.modelio.bundle import (
    BUNDLE_CONFIGS,
    SETTINGS_KEY,
    plain_settings,
    write_bundle_configs,
    write_bundle_weights,
)

__all__ = ["BundleExportHandler"]


class BundleExportHandler:
    """Store the run's settings in every checkpoint and write a bundle in the model-zoo layout into ``output_dir``.

    When the run starts it writes ``configs/`` (the source bundle's ``inference.json`` and ``evaluate.json`` with the
    settings' values written in, ``metadata.json``, ``logging.conf``) and ``docs/README.md``; after every epoch and
    when the run completes it writes ``models/model.pt`` (the generators' weights and the settings). Then
    ``medtranslate translate --bundle <output_dir>`` and ``python -m monai.bundle run --config_file
    configs/inference.json`` in that folder need no overrides. See :mod:`medtranslate.modelio.bundle`.

    Args:
        bundle_root: the bundle the run was started from (its ``configs/`` are copied).
        output_dir: the run's output folder (the new bundle's root).
        settings: config key -> the value this run used (``train.json``'s ``bundle_settings``, resolved by MONAI, so
            command-line overrides are included).
        network_keys: the checkpoint keys of the networks to ship; default every network of the trainer except the
            discriminators (keys starting with ``d_`` or ``discriminator``).
        overlays: variant config files merged over ``train.json`` that change the networks (``bundle_overlays``,
            e.g. ``variants/unet.json``): their network definitions go into the run's inference configs.
        files: the source bundle's ``configs/`` files to write (default :data:`BUNDLE_CONFIGS`). One stage of a
            multi-stage bundle (fundus_synthesis) writes its own folder, ``<output_dir>/<stage>``, and leaves out the
            configs that need every stage (``evaluate.json``).
        config_values: other values written into the run's configs but not stored in checkpoints, e.g. the
            ``direction`` a stage's bundle translates in by default.
    """

    def __init__(
        self,
        bundle_root: str | os.PathLike,
        output_dir: str | os.PathLike,
        settings: Mapping[str, Any],
        network_keys: Sequence[str] | None = None,
        overlays: Sequence[str | os.PathLike] = (),
        files: Sequence[str] = BUNDLE_CONFIGS,
        config_values: Mapping[str, Any] | None = None,
    ) -> None:
        self.bundle_root, self.output_dir = Path(bundle_root), Path(output_dir)
        self.settings = plain_settings(settings)
        self.network_keys = None if network_keys is None else list(network_keys)
        self.overlays = [Path(o) for o in overlays]
        self.files = list(files)
        self.config_values = plain_settings(config_values or {})

    def attach(self, engine: Any) -> None:
        """Register the settings with the trainer's checkpoints and the writers on its events.

        Args:
            engine: a medtranslate trainer.
        """
        if hasattr(engine, "register_checkpoint_object"):
            engine.register_checkpoint_object(SETTINGS_KEY, self)
        engine.add_event_handler(Events.STARTED, self.write_configs)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self.write_weights)
        engine.add_event_handler(Events.COMPLETED, self.write_weights)

    def state_dict(self) -> dict[str, Any]:
        """The settings (what a checkpoint stores under ``"settings"``)."""
        return dict(self.settings)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Nothing to restore: a resumed run uses the settings of its own config.

        Args:
            state: the stored settings.
        """

    def write_configs(self, engine: Any = None) -> list[Path]:
        """Write ``configs/`` and ``docs/README.md`` (rank 0).

        Args:
            engine: unused (ignite passes it).
        """
        if not is_main_process():
            return []
        return write_bundle_configs(
            self.bundle_root,
            self.output_dir,
            self.settings,
            files=self.files,
            overlays=self.overlays,
            values=self.config_values,
        )

    def _networks(self, engine: Any) -> dict[str, Any]:
        nets = engine.checkpoint_networks()
        keys = self.network_keys or [k for k in nets if not k.startswith(("d_", "discriminator"))]
        return {k: unwrap(nets[k]).state_dict() for k in keys}

    def write_weights(self, engine: Any) -> Path | None:
        """Write ``models/model.pt`` with the current weights (rank 0).

        Args:
            engine: the trainer.
        """
        if not is_main_process():
            return None
        return write_bundle_weights(self.output_dir, self._networks(engine), self.settings)
