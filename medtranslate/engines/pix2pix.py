"""pix2pix training (Isola et al. 2017): a conditional GAN plus ``lambda_l1`` times L1, for paired data."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer

from medtranslate.engines.adversarial import AdversarialTrainer
from medtranslate.engines.base import logits_of, set_requires_grad
from medtranslate.engines.distributed import unwrap
from medtranslate.engines.handlers.nan_guard import finite_loss_values
from medtranslate.engines.image_pool import ImagePool

__all__ = ["Pix2PixTrainer"]


class Pix2PixTrainer(AdversarialTrainer):
    """Paired translation A -> B with one generator and a (conditional) PatchGAN.

    Each iteration, in the reference order: ``fake_B = generator(A)``; the discriminator is updated on
    ``cat(A, B)`` (real) and ``cat(A, fake_B)`` (fake) with ``0.5 * (real + fake)`` (WGAN-GP: ``real + fake +
    lambda_gp * GP``, Gulrajani et al.); then the generator on
    ``adv(d(cat(A, fake_B)), real) + lambda_l1 * L1(fake_B, B)``. With ``conditional=False`` the discriminator
    sees B images alone. Batches are dicts ``{keys[0]: A, keys[1]: B}`` in [-1, 1].

    Args:
        device: the device of the step.
        max_epochs: epochs to train.
        train_data_loader: yields the paired batch dicts.
        generator: network A -> B (may be DDP-wrapped).
        discriminator: PatchGAN on ``C_A + C_B`` channels (conditional) or ``C_B`` channels; returns logits (or
            MONAI's feature list).
        g_optimizer: the generator's optimiser (Adam, lr 2e-4, betas (0.5, 0.999) in the paper).
        d_optimizer: the discriminator's optimiser.
        adversarial_loss: ``loss(logits, target_is_real, for_discriminator=...)`` or a mode name for
            ``medtranslate.losses.AdversarialLoss`` (the paper uses ``"vanilla"``).
        reconstruction_loss: ``loss(fake_B, B)``; default L1.
        gradient_penalty: ``penalty(critic, real, fake)``; default: medtranslate's for WGAN-GP only.
        lambda_gp: weight of the default WGAN-GP gradient penalty (10, as in Gulrajani et al.).
        lambda_l1: weight of the reconstruction term (100).
        conditional: feed the discriminator the input image too.
        pool_size: fake-history size (0, as in the paper).
        seed: seed of the pool's generator.
        schedulers: epoch-level LR schedulers.
        amp: ``"bf16"``, ``"fp16"`` or ``None``.
        accumulation_steps: iterations per optimiser step.
        channels_last: channels-last inputs and networks.
        resume_from: checkpoint file or folder to resume from when the run starts.
        kwargs: the options every GAN trainer shares (``keys``, ``epoch_length``, ``non_blocking``,
            ``train_handlers``, ``key_train_metric``, ``additional_metrics``, ``metric_cmp_fn``, ``optim_set_to_none``,
            ``event_names``, ``event_to_attr``): see :class:`~medtranslate.engines.adversarial.AdversarialTrainer`.
    """

    def __init__(
        self,
        device: str | torch.device,
        max_epochs: int,
        train_data_loader: Iterable,
        generator: nn.Module,
        discriminator: nn.Module,
        g_optimizer: Optimizer,
        d_optimizer: Optimizer,
        adversarial_loss: Callable | str = "vanilla",
        reconstruction_loss: Callable | None = None,
        gradient_penalty: Callable | None = None,
        lambda_gp: float = 10.0,
        lambda_l1: float = 100.0,
        conditional: bool = True,
        pool_size: int = 0,
        seed: int = 0,
        schedulers: Sequence[Any] | Any | None = None,
        amp: str | bool | None = None,
        accumulation_steps: int = 1,
        channels_last: bool = False,
        resume_from: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            device=device,
            max_epochs=max_epochs,
            train_data_loader=train_data_loader,
            networks=(generator, discriminator),
            g_optimizer=g_optimizer,
            d_optimizer=d_optimizer,
            adversarial_loss=adversarial_loss,
            gradient_penalty=gradient_penalty,
            lambda_gp=lambda_gp,
            channels_last=channels_last,
            **kwargs,
        )
        self.generator, self.discriminator = generator, discriminator
        self.reconstruction_loss = reconstruction_loss if reconstruction_loss is not None else nn.L1Loss()
        self.lambda_l1 = float(lambda_l1)
        self.conditional = bool(conditional)
        self.pool = ImagePool(pool_size, seed=seed)
        self._init_training(amp, accumulation_steps, schedulers, channels_last, resume_from)

    def checkpoint_networks(self) -> dict[str, nn.Module]:
        """The networks by checkpoint key.

        Returns:
            ``generator``, ``discriminator``.
        """
        return {"generator": self.generator, "discriminator": self.discriminator}

    def checkpoint_optimizers(self) -> dict[str, Optimizer]:
        """The optimisers by checkpoint key.

        Returns:
            ``g_optimizer``, ``d_optimizer``.
        """
        return {"g_optimizer": self.g_optimizer, "d_optimizer": self.d_optimizer}

    def _checkpoint_extras(self) -> dict[str, Any]:
        return {"pool": self.pool}

    def _pair(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.cat((a, b), dim=1) if self.conditional else b

    def _train_step(self, batchdata: Any) -> dict[str, Any]:
        real_a = self._to_device(batchdata[self.keys[0]])
        real_b = self._to_device(batchdata[self.keys[1]])
        zero, step = self._accumulation_flags()
        self.generator.train()
        self.discriminator.train()
        if zero:
            self.g_optimizer.zero_grad(set_to_none=self.optim_set_to_none)
            self.d_optimizer.zero_grad(set_to_none=self.optim_set_to_none)
        adv = self.adversarial_loss
        with self._autocast():
            fake_b = self.generator(real_a)

        # discriminator first, as in the reference
        set_requires_grad((self.discriminator,), True)
        with self._autocast():
            fake_in = self.pool.query(self._pair(real_a, fake_b.detach()))
            real_in = self._pair(real_a, real_b)
            loss_d = self.d_loss_weight * (
                adv(logits_of(self.discriminator(fake_in)), False, for_discriminator=True)
                + adv(logits_of(self.discriminator(real_in)), True, for_discriminator=True)
            )
            if self.gradient_penalty is not None:
                loss_d = loss_d + self.gradient_penalty(self.discriminator, real_in, fake_in)
        values = finite_loss_values({"loss_D": loss_d}, self)
        self._backward(loss_d)
        if step:
            self._optimizer_step(self.d_optimizer)

        # generator; the frozen discriminator runs unwrapped (no DDP gradient sync for it)
        set_requires_grad((self.discriminator,), False)
        with self._autocast():
            terms = {
                "loss_adv": adv(
                    logits_of(unwrap(self.discriminator)(self._pair(real_a, fake_b))), True, for_discriminator=False
                ),
                "loss_l1": self.lambda_l1 * self.reconstruction_loss(fake_b, real_b),
            }
            loss_g = terms["loss_adv"] + terms["loss_l1"]
        values.update(finite_loss_values({"loss_G": loss_g, **terms}, self))
        self._backward(loss_g)
        if step:
            self._optimizer_step(self.g_optimizer)
            self._update_scaler()
        set_requires_grad((self.discriminator,), True)
        return {"real_A": real_a.detach(), "fake_B": fake_b.detach(), "real_B": real_b.detach(), **values}
