"""Small helpers shared by every layer (no torch training logic here)."""

from __future__ import annotations

from medtranslate.utils.atomic import atomic_path, atomic_save_torch

__all__ = ["atomic_path", "atomic_save_torch"]
