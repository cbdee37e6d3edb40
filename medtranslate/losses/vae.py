"""VAE objective (seed 004): reconstruction + beta * KL divergence to N(0, I)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._precision import float32_region

__all__ = ["VAELoss"]

_RECONSTRUCTIONS = ("mse", "l1", "bce")


class VAELoss(nn.Module):
    """Negative ELBO of a Gaussian VAE: ``mean_b [ R_b + beta * KL_b ]``.

    Both terms are summed over each sample's elements and averaged over the batch, so their balance does not depend
    on the image size:

    - ``R_b``: the reconstruction error summed over pixels: squared error (``"mse"``, seed 004's L2 loss, the
      default), absolute error (``"l1"``) or binary cross-entropy with logits (``"bce"``, for vessel maps in [0, 1]
      decoded by ``ResidualVAE(output_activation=None)``).
    - ``KL_b = -1/2 * sum_j (1 + logvar_j - mu_j^2 - exp(logvar_j))``, the KL divergence of ``N(mu, exp(logvar))``
      from ``N(0, I)``.

    ``beta = 1`` is the standard VAE; other values give a beta-VAE. Computed in float32 with autocast disabled.

    Args:
        beta: weight of the KL term (>= 0).
        reconstruction: ``"mse"``, ``"l1"`` or ``"bce"``.

    Raises:
        ValueError: on an unknown reconstruction or a negative ``beta``.
    """

    def __init__(self, beta: float = 1.0, reconstruction: str = "mse") -> None:
        super().__init__()
        if reconstruction not in _RECONSTRUCTIONS:
            raise ValueError(f"reconstruction must be one of {_RECONSTRUCTIONS}, got {reconstruction!r}")
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        self.beta = float(beta)
        self.reconstruction = reconstruction

    def terms(
        self, reconstruction: torch.Tensor, target: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The two terms, each averaged over the batch.

        Args:
            reconstruction: decoder output (logits for ``"bce"``), shape ``(B, C, *spatial)``.
            target: the input image, same shape (in [0, 1] for ``"bce"``).
            mu: posterior means, shape ``(B, latent)``.
            logvar: posterior log-variances, shape ``(B, latent)``.

        Returns:
            ``(reconstruction_term, kl_term)``, scalars in float32.

        Raises:
            ValueError: on a shape mismatch, or ``"bce"`` targets outside [0, 1].
        """
        if reconstruction.shape != target.shape:
            raise ValueError(
                f"reconstruction {tuple(reconstruction.shape)} and target {tuple(target.shape)} differ in shape"
            )
        with float32_region(target):
            rec, x = reconstruction.float(), target.float()
            mu, logvar = mu.float(), logvar.float()
            if self.reconstruction == "bce":
                if bool((x < 0).any() or (x > 1).any()):
                    raise ValueError("bce reconstruction needs targets in [0, 1]; map [-1, 1] images with (x + 1) / 2")
                err = F.binary_cross_entropy_with_logits(rec, x, reduction="none")
            elif self.reconstruction == "l1":
                err = (rec - x).abs()
            else:
                err = (rec - x) ** 2
            rec_term = err.reshape(err.shape[0], -1).sum(dim=1).mean()
            kl = -0.5 * (1.0 + logvar - mu**2 - logvar.exp())
            kl_term = kl.reshape(kl.shape[0], -1).sum(dim=1).mean()
            return rec_term, kl_term

    def forward(
        self,
        reconstruction: torch.Tensor | Sequence[torch.Tensor],
        target: torch.Tensor,
        mu: torch.Tensor | None = None,
        logvar: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Compute ``reconstruction_term + beta * kl_term``.

        Args:
            reconstruction: decoder output (logits for ``"bce"``), shape ``(B, C, *spatial)``; or the VAE's whole
                output ``(reconstruction, mu, logvar[, z])``, as a supervised trainer passes it (then ``mu`` and
                ``logvar`` are taken from it).
            target: the input image, same shape.
            mu: posterior means, shape ``(B, latent)``.
            logvar: posterior log-variances, shape ``(B, latent)``.

        Returns:
            The scalar loss, float32.

        Raises:
            ValueError: when ``mu`` / ``logvar`` are neither given nor part of ``reconstruction``.
        """
        if isinstance(reconstruction, (tuple, list)):
            reconstruction, mu, logvar = reconstruction[:3]
        if mu is None or logvar is None:
            raise ValueError("VAELoss needs mu and logvar (or the VAE output tuple as its first argument)")
        rec_term, kl_term = self.terms(reconstruction, target, mu, logvar)
        return rec_term + self.beta * kl_term
