"""Small helpers shared by every layer. Importing this package is light (no torch): ``utils.amp`` is imported
explicitly by the torch layers that need it."""

from __future__ import annotations

from medtranslate.utils.atomic import atomic_path

__all__ = ["atomic_path"]
