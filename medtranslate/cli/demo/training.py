"""Helpers shared by the demo's training steps (oct2confocal, ct2mri, rating): precision, schedule and iterations
reached."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medtranslate.modelio import list_checkpoints


def _trained_iterations(checkpoints: Path) -> int:
    """The iteration of the newest checkpoint in a training run's folder (what a time-limited run reached)."""
    found = list_checkpoints(checkpoints)
    return found[-1][0] if found else 0


def _demo_amp() -> str:
    """``"bf16"`` where the CPU computes in bfloat16 natively (AVX512-BF16 or AMX: about twice as fast), else
    ``"none"`` (emulated bfloat16 would be slower than float32)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="ignore").split()
    except OSError:
        return "none"
    return "bf16" if {"avx512_bf16", "amx_bf16"} & set(flags) else "none"


def _demo_schedule(epochs: int) -> dict[str, Any]:
    """The train.json keys of a demo run of ``epochs`` epochs: half at a constant learning rate and half decaying,
    no intermediate checkpoints or sample images (the run's last checkpoint is written anyway), ten loss plots."""
    return {
        "max_epochs": epochs,
        "n_constant_epochs": epochs // 2,
        "n_decay_epochs": epochs - epochs // 2,
        "checkpoint_interval": 10**6,
        "sample_interval": 10**6,
        "loss_plot_interval": max(1, epochs // 10),
    }
