"""Explicit channel conversions for losses between grayscale and RGB images (never a silent broadcast)."""

from __future__ import annotations

import torch

__all__ = ["BT601_WEIGHTS", "CHANNEL_POLICIES", "luminance", "match_channels"]

# ITU-R BT.601 luma weights for R, G, B; they sum to 1, so a [-1, 1] RGB image gives a [-1, 1] luminance and the
# projection commutes with the affine map between [-1, 1] and [0, 1].
BT601_WEIGHTS = (0.299, 0.587, 0.114)
CHANNEL_POLICIES = ("error", "repeat", "luminance")


def luminance(x: torch.Tensor) -> torch.Tensor:
    """Project an RGB image to its BT.601 luminance ``0.299 R + 0.587 G + 0.114 B``.

    Args:
        x: images with 3 channels, shape ``(B, 3, *spatial)``.

    Returns:
        Shape ``(B, 1, *spatial)``.

    Raises:
        ValueError: when ``x`` does not have 3 channels.
    """
    if x.dim() < 3 or x.shape[1] != 3:
        raise ValueError(f"luminance needs a (B, 3, ...) RGB tensor, got shape {tuple(x.shape)}")
    w = torch.tensor(BT601_WEIGHTS, dtype=x.dtype, device=x.device).view(1, 3, *([1] * (x.dim() - 2)))
    return (x * w).sum(dim=1, keepdim=True)


def match_channels(x: torch.Tensor, channels: int, policy: str) -> torch.Tensor:
    """Convert ``x`` to ``channels`` channels under ``policy``.

    - ``"repeat"``: a 1-channel image is repeated to ``channels``; reducing channels is not possible.
    - ``"luminance"``: a 3-channel image becomes its luminance (to 1 channel); a 1-channel image is repeated to 3
      (the gray RGB image with that luminance).
    - ``"error"``: any change of channel count is refused.

    Args:
        x: images, shape ``(B, C, *spatial)``.
        channels: the wanted channel count.
        policy: ``"error"``, ``"repeat"`` or ``"luminance"``.

    Returns:
        ``x`` unchanged when it already has ``channels`` channels, else the converted tensor.

    Raises:
        ValueError: when the policy does not allow the conversion, naming both shapes.
    """
    if policy not in CHANNEL_POLICIES:
        raise ValueError(f"channel policy must be one of {CHANNEL_POLICIES}, got {policy!r}")
    c = x.shape[1]
    if c == channels:
        return x
    if policy != "error":
        if c == 1 and (policy == "repeat" or channels == 3):
            return x.expand(x.shape[0], channels, *x.shape[2:])
        if policy == "luminance" and c == 3 and channels == 1:
            return luminance(x)
    hint = {
        "error": "choose channel_policy 'repeat' (gray repeated to RGB) or 'luminance' (RGB projected to gray)",
        "repeat": "'repeat' only turns 1 channel into many; use 'luminance' to turn RGB into gray",
        "luminance": "'luminance' only converts between 1 and 3 channels",
    }[policy]
    raise ValueError(f"cannot turn shape {tuple(x.shape)} into {channels} channels under policy {policy!r}: {hint}")
