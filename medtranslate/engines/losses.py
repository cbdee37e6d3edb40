"""Resolve the loss options of the GAN trainers: callables are used as is, mode names build medtranslate's losses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from medtranslate.errors import ConfigError
from medtranslate.losses import AdversarialLoss, gradient_penalty

__all__ = [
    "build_adversarial_loss",
    "default_gradient_penalty",
    "discriminator_loss_weight",
    "identity_input",
    "is_wgan_gp",
]


def build_adversarial_loss(loss: Callable | str) -> Callable:
    """The adversarial criterion: ``loss(logits, target_is_real, for_discriminator=...)``.

    Args:
        loss: a callable with that signature (``medtranslate.losses.AdversarialLoss``, MONAI's
            ``PatchAdversarialLoss``, ...) or a mode name of ``AdversarialLoss`` (``"vanilla"``, ``"lsgan"``,
            ``"hinge"``, ``"wgangp"``).

    Returns:
        The criterion.

    Raises:
        ConfigError: for an unknown mode name.
    """
    if callable(loss):
        return loss
    try:
        return AdversarialLoss(str(loss))
    except ValueError as e:
        raise ConfigError(None, f"adversarial_loss: {e}") from e


def is_wgan_gp(mode: Callable | str) -> bool:
    """Whether an ``adversarial_loss`` option is WGAN-GP.

    Args:
        mode: the option (a name, or a criterion with a ``mode`` attribute).

    Returns:
        ``True`` for ``"wgangp"`` (also spelled ``"wgan-gp"``/``"wgan_gp"``, any case).
    """
    name = mode if isinstance(mode, str) else getattr(mode, "mode", "")
    return str(name).lower().replace("-", "").replace("_", "") == "wgangp"


def discriminator_loss_weight(mode: Callable | str) -> float:
    """The weight on ``adv(d(real)) + adv(d(fake))`` in a discriminator's loss.

    0.5 for the GAN objectives, as in the reference implementation (junyanz ``backward_D_basic``: "(real + fake) *
    0.5", which slows D relative to G). 1 for WGAN-GP, whose critic loss is ``E[D(fake)] - E[D(real)] + lambda_gp *
    GP`` (Gulrajani et al. 2017, Algorithm 1): halving the Wasserstein term would double the penalty's relative weight.

    Args:
        mode: the ``adversarial_loss`` option (a name, or a criterion with a ``mode`` attribute).

    Returns:
        0.5 or 1.0.
    """
    return 1.0 if is_wgan_gp(mode) else 0.5


def default_gradient_penalty(mode: Callable | str, lambda_gp: float = 10.0) -> Callable | None:
    """WGAN-GP needs a gradient penalty on the critic; the other modes need none.

    Args:
        mode: the ``adversarial_loss`` option (a name, or a criterion with a ``mode`` attribute).
        lambda_gp: the penalty weight (10 in Gulrajani et al.).

    Returns:
        ``penalty(critic, real, fake)`` for WGAN-GP, else ``None``.
    """
    if not is_wgan_gp(mode):
        return None

    def penalty(critic: Any, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return gradient_penalty(critic, real, fake, lambda_gp)

    return penalty


def identity_input(loss: Any, image: torch.Tensor, in_channels: int) -> torch.Tensor:
    """The image fed to a generator for its identity term, in the generator's input channel count.

    ``medtranslate.losses.IdentityLoss`` converts it under its ``channel_policy`` (``"repeat"``/``"luminance"``
    for grayscale <-> RGB); other criteria need equal channel counts.

    Args:
        loss: the identity criterion.
        image: a real image of the generator's output domain.
        in_channels: the generator's input channels.

    Returns:
        The image with ``in_channels`` channels.

    Raises:
        ConfigError: when the channel counts cannot be reconciled.
    """
    try:
        if hasattr(loss, "prepare_input"):
            return loss.prepare_input(image, in_channels)
    except ValueError as e:
        raise ConfigError(None, f"identity loss: {e}; or set lambda_identity to 0") from e
    if image.shape[1] != in_channels:
        raise ConfigError(
            None,
            f"identity loss needs equal channel counts (got {image.shape[1]} and {in_channels}): use "
            "medtranslate.losses.IdentityLoss with channel_policy 'repeat' or 'luminance', or set lambda_identity to 0",
        )
    return image
