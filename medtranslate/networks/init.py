"""Weight initialisation of pix2pix / CycleGAN (``init_weights``), on top of MONAI's ``normal_init``."""

from __future__ import annotations

import functools

from monai.networks.utils import normal_init
from torch import nn

__all__ = ["init_weights", "INIT_TYPES"]

INIT_TYPES = ("normal", "xavier", "kaiming", "orthogonal")


def _normal_init(m: nn.Module, gain: float) -> None:
    if "BatchNorm" in m.__class__.__name__ and getattr(m, "weight", None) is None:
        return  # non-affine batch norm: nothing to initialise (MONAI's normal_init would fail on it)
    normal_init(m, std=gain)


def _other_init(m: nn.Module, init_type: str, gain: float) -> None:
    cname = m.__class__.__name__
    if getattr(m, "weight", None) is not None and ("Conv" in cname or "Linear" in cname):
        if init_type == "xavier":
            nn.init.xavier_normal_(m.weight.data, gain=gain)
        elif init_type == "kaiming":
            nn.init.kaiming_normal_(m.weight.data, a=0, mode="fan_in")
        else:
            nn.init.orthogonal_(m.weight.data, gain=gain)
        if getattr(m, "bias", None) is not None:
            nn.init.constant_(m.bias.data, 0.0)
    elif "BatchNorm" in cname and getattr(m, "weight", None) is not None:
        nn.init.normal_(m.weight.data, 1.0, gain)
        nn.init.constant_(m.bias.data, 0.0)


def init_weights(module: nn.Module, init_type: str = "normal", gain: float = 0.02) -> nn.Module:
    """Initialise the weights of every conv / transposed conv / linear layer and batch norm, as pix2pix/CycleGAN do.

    Conv and linear weights: ``"normal"`` N(0, gain) (the reference default, via MONAI's ``normal_init``),
    ``"xavier"`` Xavier-normal with ``gain``, ``"kaiming"`` Kaiming-normal (fan-in, ``gain`` unused) or
    ``"orthogonal"`` with ``gain``; their biases are set to 0. Batch-norm weights are drawn from N(1, gain) and
    their biases set to 0. Other layers keep PyTorch's initialisation.

    Args:
        module: the network, initialised in place.
        init_type: ``"normal"``, ``"xavier"``, ``"kaiming"`` or ``"orthogonal"``.
        gain: standard deviation (normal) or gain (xavier, orthogonal).

    Returns:
        ``module`` itself, so the call can wrap a constructor.

    Raises:
        ValueError: for an unknown ``init_type``.
    """
    if init_type not in INIT_TYPES:
        raise ValueError(f"init_type must be one of {INIT_TYPES}, got {init_type!r}")
    if init_type == "normal":
        module.apply(functools.partial(_normal_init, gain=gain))
    else:
        module.apply(functools.partial(_other_init, init_type=init_type, gain=gain))
    return module
