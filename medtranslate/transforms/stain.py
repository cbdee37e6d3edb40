"""Gareau's (2009) digital stain of two-mode confocal images: FCM -> hematoxylin, RCM -> eosin (seed 001).

The fluorescence mode (FCM, acridine orange: nuclei bright) is painted with hematoxylin's purple/blue and the
reflectance mode (RCM: collagen, cytoplasm, dermis bright) with eosin's pink, as a bright-field (transmitted light)
image would show them. Each stain removes light in proportion to its concentration, the measured intensity, with
the per-channel absorption of the dye (Beer-Lambert). Two forms:

* ``"linear"`` (default; Gareau 2009, the form used by the VivaScope 2500): the first-order expansion of
  Beer-Lambert, ``RGB = 1 - F * (1 - H) - R * (1 - E)``, clipped to [0, 1];
* ``"beer_lambert"``: the exponential law itself, ``RGB = exp(-k * (F * a_H + R * a_E))`` with the absorbances
  ``a = -ln(colour)`` and a strength ``k`` (1 reproduces each stain's own colour at full concentration).

``H`` and ``E`` are the RGB transmittances of the two stains: ``H = (0.30, 0.20, 1.00)`` (purple/blue) and
``E = (1.00, 0.55, 0.88)`` (pink), the values of D. S. Gareau, "Feasibility of digitally stained multimodal confocal
mosaics to simulate histopathology", J. Biomed. Opt. 14(3):034050, 2009, as reproduced by J. Bini et al., "Confocal
mosaicing microscopy of human skin ex vivo: spectral analysis for digital staining to simulate histology-like
appearance", J. Biomed. Opt. 16(7):076008, 2011 (which refines them by spectral analysis). Both are parameters, so
a lab's own calibration goes in the bundle config.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config.type_definitions import NdarrayOrTensor
from monai.transforms import MapTransform, Transform
from monai.utils.type_conversion import convert_to_dst_type, convert_to_tensor

__all__ = ["GareauStain", "GareauStaind", "HEMATOXYLIN_RGB", "EOSIN_RGB", "STAIN_MODES"]

#: RGB transmittance of hematoxylin (Gareau 2009; Bini et al. 2011).
HEMATOXYLIN_RGB: tuple[float, float, float] = (0.30, 0.20, 1.00)
#: RGB transmittance of eosin (Gareau 2009; Bini et al. 2011).
EOSIN_RGB: tuple[float, float, float] = (1.00, 0.55, 0.88)
#: the two forms of the stain.
STAIN_MODES = ("linear", "beer_lambert")


class GareauStain(Transform):
    """Stain a two-channel confocal image ``(2, *spatial)`` (channel 0 FCM, channel 1 RCM, both in [0, 1]) to RGB.

    Args:
        hematoxylin: RGB transmittance given to FCM.
        eosin: RGB transmittance given to RCM.
        mode: ``"linear"`` (Gareau 2009) or ``"beer_lambert"`` (see the module docstring).
        strength: ``k`` of the Beer-Lambert form (ignored by the linear form).

    Raises:
        ValueError: on an unknown mode or colours outside (0, 1].
    """

    backend = [torch.Tensor, np.ndarray]

    def __init__(
        self,
        hematoxylin: Sequence[float] = HEMATOXYLIN_RGB,
        eosin: Sequence[float] = EOSIN_RGB,
        mode: str = "linear",
        strength: float = 1.0,
    ) -> None:
        if mode not in STAIN_MODES:
            raise ValueError(f"unknown stain mode {mode!r}; choose from {', '.join(STAIN_MODES)}")
        h, e = (torch.as_tensor([float(v) for v in c], dtype=torch.float32) for c in (hematoxylin, eosin))
        if h.numel() != 3 or e.numel() != 3 or (torch.cat([h, e]) <= 0).any() or (torch.cat([h, e]) > 1).any():
            raise ValueError(f"stain colours must be 3 RGB values in (0, 1], got {hematoxylin} and {eosin}")
        self.hematoxylin, self.eosin, self.mode, self.strength = h, e, mode, float(strength)

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        """Stain ``img``.

        Args:
            img: ``(2, *spatial)``: FCM and RCM normalised to [0, 1].

        Returns:
            ``(3, *spatial)`` RGB in [0, 1], same type as ``img``.

        Raises:
            ValueError: when ``img`` does not have two channels.
        """
        if img.shape[0] != 2:
            raise ValueError(f"the Gareau stain takes 2 channels (FCM, RCM), got {img.shape[0]}")
        x = convert_to_tensor(img, dtype=torch.float32, track_meta=False)
        view = (3,) + (1,) * (x.ndim - 1)
        f, r = x[0:1], x[1:2]
        h, e = self.hematoxylin.to(x.device).view(view), self.eosin.to(x.device).view(view)
        if self.mode == "linear":
            rgb = (1.0 - f * (1.0 - h) - r * (1.0 - e)).clamp(0.0, 1.0)
        else:
            rgb = torch.exp(-self.strength * (f * -torch.log(h) + r * -torch.log(e)))
        out, *_ = convert_to_dst_type(rgb, img, dtype=torch.float32 if isinstance(img, torch.Tensor) else np.float32)
        return out


class GareauStaind(MapTransform):
    """Dictionary version of :class:`GareauStain`: ``d[output_key] = stain(cat(d[fcm_key], d[rcm_key]))``.

    Args:
        fcm_key: key of the fluorescence image ``(1, *spatial)``.
        rcm_key: key of the reflectance image ``(1, *spatial)``.
        output_key: key of the RGB result.
        kwargs: :class:`GareauStain` arguments.
    """

    backend = GareauStain.backend

    def __init__(self, fcm_key: str = "fcm", rcm_key: str = "rcm", output_key: str = "image", **kwargs) -> None:
        super().__init__([fcm_key, rcm_key])
        self.fcm_key, self.rcm_key, self.output_key = fcm_key, rcm_key, output_key
        self.stain = GareauStain(**kwargs)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        """Stain one item.

        Args:
            data: the item.

        Returns:
            A new dict with ``output_key`` set.
        """
        d = dict(data)
        f, r = d[self.fcm_key], d[self.rcm_key]
        both = (
            torch.cat([torch.as_tensor(f), torch.as_tensor(r)])
            if isinstance(f, torch.Tensor)
            else np.concatenate([f, r])
        )
        d[self.output_key] = self.stain(both)
        return d
