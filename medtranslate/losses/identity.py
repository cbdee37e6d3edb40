"""Identity loss ``|G(y) - y|`` with an explicit policy for generators whose input and output channels differ."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._precision import float32_region
from .channels import CHANNEL_POLICIES, match_channels

__all__ = ["IdentityLoss"]


class IdentityLoss(nn.Module):
    """L1 identity loss: a generator fed an image of its output domain should return it unchanged.

    CycleGAN's identity term needs the generator's input and output channel counts to agree (junyanz asserts
    ``input_nc == output_nc``); grayscale OCT -> RGB confocal (seed 000) breaks that. ``channel_policy`` says what to
    do instead, and nothing is ever broadcast silently:

    - ``"error"`` (default): a ``ValueError`` naming both shapes.
    - ``"repeat"``: compare in the larger channel count, the 1-channel image repeated (what the OCT2Confocal code
      does by repeating grayscale OCT to 3 channels in its dataset).
    - ``"luminance"``: compare in one channel, RGB images projected to BT.601 luminance
      ``0.299 R + 0.587 G + 0.114 B``.

    :meth:`prepare_input` applies the same policy to the image fed to the generator (e.g. an RGB confocal image into
    a 1-channel OCT->confocal generator). The L1 runs in float32 with autocast disabled.

    Args:
        channel_policy: ``"error"``, ``"repeat"`` or ``"luminance"``.

    Raises:
        ValueError: on an unknown policy.
    """

    def __init__(self, channel_policy: str = "error") -> None:
        super().__init__()
        if channel_policy not in CHANNEL_POLICIES:
            raise ValueError(f"channel_policy must be one of {CHANNEL_POLICIES}, got {channel_policy!r}")
        self.channel_policy = channel_policy

    def prepare_input(self, image: torch.Tensor, in_channels: int) -> torch.Tensor:
        """Adapt a real image of the generator's output domain to the generator's input channel count.

        Args:
            image: the real image ``y``, shape ``(B, C, *spatial)``.
            in_channels: the generator's input channels.

        Returns:
            ``y`` with ``in_channels`` channels (``repeat``: 1 -> N; ``luminance``: 3 -> 1 or 1 -> 3).

        Raises:
            ValueError: when the policy does not allow the conversion.
        """
        return match_channels(image, in_channels, self.channel_policy)

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Compute ``mean|G(y) - y|`` in the channel space the policy picks.

        Args:
            output: ``G(y)``, shape ``(B, C_out, *spatial)``.
            target: ``y``, shape ``(B, C_y, *spatial)``.

        Returns:
            The scalar L1 loss, float32.

        Raises:
            ValueError: when the spatial shapes differ, or the channel counts differ and the policy cannot reconcile
                them.
        """
        if output.shape[0] != target.shape[0] or output.shape[2:] != target.shape[2:]:
            raise ValueError(
                f"identity output {tuple(output.shape)} and target {tuple(target.shape)} differ beyond channels"
            )
        co, ct = output.shape[1], target.shape[1]
        if co != ct:
            if self.channel_policy == "error":
                raise ValueError(
                    f"identity loss: output has shape {tuple(output.shape)} but target has {tuple(target.shape)} "
                    "(channel counts differ); set channel_policy to 'repeat' or 'luminance'"
                )
            if self.channel_policy == "repeat":
                channels = max(co, ct)
            else:
                channels = 1
            output = match_channels(output, channels, self.channel_policy)
            target = match_channels(target, channels, self.channel_policy)
        with float32_region(target):
            return F.l1_loss(output.float(), target.float())
