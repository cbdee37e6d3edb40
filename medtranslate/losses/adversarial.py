"""Adversarial losses on discriminator logits (vanilla, LSGAN, hinge, WGAN-GP) and the WGAN gradient penalty."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ._precision import float32_region, last_output

__all__ = ["AdversarialLoss", "gradient_penalty"]

ADVERSARIAL_MODES = ("vanilla", "lsgan", "hinge", "wgangp")


class AdversarialLoss(nn.Module):
    """GAN objective on raw discriminator logits, safe under autocast.

    ``x`` are the logits, averaged over every element (each PatchGAN patch counts once):

    ========== ================================= ============================ =======================
    mode       discriminator, real               discriminator, fake          generator
    ========== ================================= ============================ =======================
    vanilla    BCE-with-logits(x, real_label)    BCE-with-logits(x, fake)     BCE-with-logits(x, real)
    lsgan      mean((x - real_label)^2)          mean((x - fake_label)^2)     mean((x - real_label)^2)
    hinge      mean(relu(1 - x))                 mean(relu(1 + x))            -mean(x)
    wgangp     -mean(x)                          mean(x)                      -mean(x)
    ========== ================================= ============================ =======================

    ``vanilla`` is seed 000's BCE objective, ``lsgan`` seed 003's and the junyanz default. WGAN-GP adds
    :func:`gradient_penalty` to the critic loss. The arithmetic runs in float32 with autocast disabled.
    MONAI's PatchAdversarialLoss "bce" is not reused: it applies a sigmoid then BCELoss, which autocast refuses.

    Args:
        mode: ``"vanilla"``, ``"lsgan"``, ``"hinge"`` or ``"wgangp"``.
        real_label: target for real samples in vanilla / lsgan (e.g. 0.9 for one-sided label smoothing).
        fake_label: target for fake samples in vanilla / lsgan.

    Raises:
        ValueError: on an unknown ``mode``.
    """

    def __init__(self, mode: str = "vanilla", real_label: float = 1.0, fake_label: float = 0.0) -> None:
        super().__init__()
        if mode not in ADVERSARIAL_MODES:
            raise ValueError(f"mode must be one of {ADVERSARIAL_MODES}, got {mode!r}")
        self.mode = mode
        self.real_label = float(real_label)
        self.fake_label = float(fake_label)

    def forward(
        self, logits: torch.Tensor | list | tuple, target_is_real: bool, for_discriminator: bool = True
    ) -> torch.Tensor:
        """Compute the loss.

        Args:
            logits: discriminator output, a tensor or a list whose last element is the logits (MONAI
                discriminators return lists).
            target_is_real: whether the samples should be judged real.
            for_discriminator: discriminator loss (``True``) or generator loss (``False``). Only hinge and wgangp
                have a distinct generator form; vanilla / lsgan generator losses are ``target_is_real=True``.

        Returns:
            The scalar loss, float32.

        Raises:
            ValueError: for a hinge / wgangp generator loss with ``target_is_real=False``.
        """
        x = last_output(logits)
        with float32_region(x):
            x = x.float()
            if self.mode in ("vanilla", "lsgan"):
                target = torch.full_like(x, self.real_label if target_is_real else self.fake_label)
                if self.mode == "vanilla":
                    return F.binary_cross_entropy_with_logits(x, target)
                return F.mse_loss(x, target)
            if not for_discriminator:
                if not target_is_real:
                    raise ValueError(f"the {self.mode} generator loss is defined for target_is_real=True only")
                return -x.mean()
            if self.mode == "hinge":
                return F.relu(1.0 - x).mean() if target_is_real else F.relu(1.0 + x).mean()
            return -x.mean() if target_is_real else x.mean()


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor | list],
    real: torch.Tensor,
    fake: torch.Tensor,
    lambda_gp: float = 10.0,
) -> torch.Tensor:
    """WGAN-GP gradient penalty (Gulrajani et al. 2017): ``lambda_gp * mean((||grad critic(x_hat)||_2 - 1)^2)``.

    ``x_hat = a * real + (1 - a) * fake`` with one ``a ~ U(0, 1)`` per sample; the gradient is taken with
    ``create_graph=True`` so the penalty can be back-propagated into the critic.

    Args:
        critic: the discriminator; may return a list whose last element is the logits.
        real: real samples, shape ``(B, C, *spatial)``.
        fake: generated samples, same shape (detached here).
        lambda_gp: penalty weight.

    Returns:
        The scalar penalty, float32.

    Raises:
        ValueError: when ``real`` and ``fake`` shapes differ.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have the same shape, got {tuple(real.shape)} and {tuple(fake.shape)}")
    b = real.shape[0]
    alpha = torch.rand((b,) + (1,) * (real.dim() - 1), device=real.device, dtype=real.dtype)
    x_hat = (alpha * real.detach() + (1.0 - alpha) * fake.detach()).requires_grad_(True)
    out = last_output(critic(x_hat))
    (grad,) = torch.autograd.grad(
        outputs=out, inputs=x_hat, grad_outputs=torch.ones_like(out), create_graph=True, retain_graph=True
    )
    with float32_region(grad):
        g = grad.float().reshape(b, -1)
        norm = torch.sqrt((g * g).sum(dim=1) + 1e-12)
        return lambda_gp * ((norm - 1.0) ** 2).mean()
