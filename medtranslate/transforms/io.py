"""Loading transform: read image files and DICOM series folders with :func:`medtranslate.io.load_image`.

Both bundles' training pipelines (CT/MR and OCT/confocal) start with :class:`LoadVolumed`.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from monai.config import KeysCollection
from monai.transforms import MapTransform

from medtranslate.io import load_image

__all__ = ["LoadVolumed"]


class LoadVolumed(MapTransform):
    """Load ``data[key]`` (a file or DICOM folder path) with :func:`medtranslate.io.load_image`.

    MONAI's ``LoadImaged`` is not used: medtranslate's loader reads DICOM series folders, enhanced DICOM and ImageJ /
    OME TIFF z-stacks with their calibration, and raises one-line ``InputError`` s naming the file.

    Args:
        keys: keys holding paths.
        series_uid_key: item key picking one series of a DICOM folder (ignored when absent).
        allow_missing_keys: skip missing keys.
    """

    def __init__(
        self, keys: KeysCollection, series_uid_key: str | None = "series_uid", allow_missing_keys: bool = False
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.series_uid_key = series_uid_key

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        """Load every key.

        Args:
            data: the item (paths).

        Returns:
            The item with ``MetaTensor`` images ``(C, *spatial)``.

        Raises:
            InputError: when a file cannot be read.
        """
        d = dict(data)
        uid = d.get(self.series_uid_key) if self.series_uid_key else None
        for key in self.key_iterator(d):
            d[key] = load_image(d[key], series_uid=uid)
        return d
