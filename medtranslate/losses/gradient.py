"""Gradient loss (seed 000, after Sun et al. 2021): L1 between spatial gradients of a generator's input and output."""

from __future__ import annotations

import torch
from monai.networks.layers import separable_filtering
from torch import nn

from ._precision import float32_region
from .channels import luminance

__all__ = ["GradientLoss", "spatial_gradients"]

_METHODS = ("sobel", "diff")
_REDUCTIONS = ("mean", "luminance")


def spatial_gradients(x: torch.Tensor, spatial_dims: int, method: str = "sobel") -> list[torch.Tensor]:
    """Per-axis spatial gradients of a batch.

    ``"sobel"``: the unnormalised Sobel operator of any dimension, separable: the derivative ``[-1, 0, 1]`` along the
    axis and the smoothing ``[1, 2, 1]`` along every other axis, with replicate padding (the 3D kernel of the
    OCT2Confocal reference code; in 2D the usual 3x3 Sobel). Built with MONAI's ``separable_filtering``; MONAI's
    ``SobelGradients`` transform is not used because it works on one un-batched image. ``"diff"``: forward differences
    ``x[i + 1] - x[i]`` on the valid region (one sample shorter along the axis).

    Args:
        x: images, shape ``(B, C, *spatial)``.
        spatial_dims: 2 or 3.
        method: ``"sobel"`` or ``"diff"``.

    Returns:
        One tensor per spatial axis, in axis order.

    Raises:
        ValueError: on an unknown method or a tensor of the wrong rank.
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if x.dim() != spatial_dims + 2:
        raise ValueError(f"expected a (B, C, {spatial_dims} spatial axes) tensor, got shape {tuple(x.shape)}")
    grads = []
    for axis in range(spatial_dims):
        if method == "diff":
            grads.append(torch.diff(x, dim=axis + 2))
            continue
        derivative = torch.tensor([-1.0, 0.0, 1.0], dtype=x.dtype, device=x.device)
        smooth = torch.tensor([1.0, 2.0, 1.0], dtype=x.dtype, device=x.device)
        kernels = [derivative if a == axis else smooth for a in range(spatial_dims)]
        grads.append(separable_filtering(x, kernels, mode="replicate"))
    return grads


class GradientLoss(nn.Module):
    """Edge-preservation loss between a generator's input and its translation.

    ``loss = (1 / D) * sum_d mean|grad_d(output) - grad_d(input)|`` over the ``D`` spatial axes, with Sobel gradients
    by default (the 3D reference of seed 000 uses Sobel, L1; its weight there is ``lambda_GL = 0.1``).

    Translation often changes the channel count (grayscale OCT -> RGB confocal). When the counts differ both images
    are reduced to one channel first: ``channel_reduction="mean"`` takes the channel mean, ``"luminance"`` the BT.601
    luminance of 3-channel images (1-channel images are kept). When the counts agree, channels are compared one to
    one. Gradients are computed in float32 with autocast disabled.

    Args:
        spatial_dims: 2 or 3.
        method: ``"sobel"`` or ``"diff"`` (forward differences).
        channel_reduction: ``"mean"`` or ``"luminance"``, used only when channel counts differ.

    Raises:
        ValueError: on an unknown method or reduction.
    """

    def __init__(self, spatial_dims: int = 2, method: str = "sobel", channel_reduction: str = "mean") -> None:
        super().__init__()
        if method not in _METHODS:
            raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
        if channel_reduction not in _REDUCTIONS:
            raise ValueError(f"channel_reduction must be one of {_REDUCTIONS}, got {channel_reduction!r}")
        self.spatial_dims = spatial_dims
        self.method = method
        self.channel_reduction = channel_reduction

    def _reduce(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            return x
        if self.channel_reduction == "luminance":
            return luminance(x)
        return x.mean(dim=1, keepdim=True)

    def forward(self, output: torch.Tensor, input: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            output: the translated image, shape ``(B, C_out, *spatial)``.
            input: the generator's input, shape ``(B, C_in, *spatial)``.

        Returns:
            The scalar loss, float32.

        Raises:
            ValueError: when batch or spatial shapes differ.
        """
        if output.shape[0] != input.shape[0] or output.shape[2:] != input.shape[2:]:
            raise ValueError(f"output {tuple(output.shape)} and input {tuple(input.shape)} differ beyond channels")
        with float32_region(input):
            out, inp = output.float(), input.float()
            if out.shape[1] != inp.shape[1]:
                out, inp = self._reduce(out), self._reduce(inp)
            g_out = spatial_gradients(out, self.spatial_dims, self.method)
            g_in = spatial_gradients(inp, self.spatial_dims, self.method)
            losses = [(a - b).abs().mean() for a, b in zip(g_out, g_in)]
            return torch.stack(losses).mean()
