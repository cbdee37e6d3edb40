"""Volumetric image I/O: NIfTI, DICOM series (read, derived write), NRRD/MetaImage, TIFF stacks, PNG/JPEG.

Images are MONAI MetaTensors, channel-first ``(C, X, Y[, Z])`` with ``meta["affine"]`` mapping voxel indices to
RAS millimetres. See docs/io.md for the conventions and the errors.

Importing this package is light (no torch, MONAI or pydicom until an image is read or written).
"""

from __future__ import annotations

from medtranslate.io.discover import SeriesRef, find_series
from medtranslate.io.load import load_image
from medtranslate.io.save import save_image

__all__ = ["load_image", "find_series", "save_image", "SeriesRef"]
