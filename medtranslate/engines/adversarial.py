"""The shared constructor of the GAN trainers (CycleGAN, pix2pix): MONAI's Trainer, optimisers, adversarial loss."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
from monai.engines import Trainer
from monai.engines.utils import default_metric_cmp_fn
from torch import nn
from torch.optim import Optimizer

from medtranslate.engines.base import TrainingMixin, to_channels_last
from medtranslate.engines.losses import build_adversarial_loss, default_gradient_penalty, discriminator_loss_weight

__all__ = ["AdversarialTrainer"]


class AdversarialTrainer(TrainingMixin, Trainer):
    """Base of the generator/discriminator trainers: what their constructors share.

    It runs MONAI's ``Trainer`` constructor (AMP off there: :class:`TrainingMixin` handles autocast on any device),
    converts the networks to channels-last when asked, and sets the two optimisers, the adversarial loss and its
    gradient penalty, the batch keys and ``optim_set_to_none``. A subclass then sets its networks, losses and pools
    and calls ``self._init_training(...)``.

    Args:
        device: the training device.
        max_epochs: epochs to run.
        train_data_loader: the batches.
        networks: every network of the trainer (for channels-last).
        g_optimizer: the generators' optimiser.
        d_optimizer: the discriminators' optimiser.
        adversarial_loss: ``"lsgan"``, ``"vanilla"``, ``"wgan-gp"``, ... or a callable.
        gradient_penalty: ``penalty(critic, real, fake)``; default: medtranslate's for WGAN-GP, none otherwise.
        lambda_gp: weight of the default WGAN-GP gradient penalty (10, as in Gulrajani et al.).
        keys: batch keys of the two domains.
        channels_last: convert the networks to channels-last memory.
        optim_set_to_none: ``zero_grad(set_to_none=...)``.
        epoch_length: iterations per epoch; default ``len(train_data_loader)``.
        non_blocking: asynchronous host -> device copies.
        train_handlers: ignite/MONAI handlers to attach.
        key_train_metric: MONAI key metric.
        additional_metrics: more MONAI metrics.
        metric_cmp_fn: compares key metric values.
        event_names: extra ignite events.
        event_to_attr: ignite event -> state attribute map.
    """

    def __init__(
        self,
        device: str | torch.device,
        max_epochs: int,
        train_data_loader: Iterable,
        networks: Sequence[nn.Module],
        g_optimizer: Optimizer,
        d_optimizer: Optimizer,
        adversarial_loss: Callable | str,
        gradient_penalty: Callable | None,
        lambda_gp: float = 10.0,
        keys: Sequence[str] = ("A", "B"),
        channels_last: bool = False,
        optim_set_to_none: bool = True,
        epoch_length: int | None = None,
        non_blocking: bool = False,
        train_handlers: Sequence | None = None,
        key_train_metric: dict | None = None,
        additional_metrics: dict | None = None,
        metric_cmp_fn: Callable = default_metric_cmp_fn,
        event_names: list | None = None,
        event_to_attr: dict | None = None,
    ) -> None:
        super().__init__(
            device=device,
            max_epochs=max_epochs,
            data_loader=train_data_loader,
            epoch_length=epoch_length,
            non_blocking=non_blocking,
            key_metric=key_train_metric,
            additional_metrics=additional_metrics,
            metric_cmp_fn=metric_cmp_fn,
            handlers=train_handlers,
            amp=False,  # AMP is handled here for any device and dtype (MONAI's hard-codes cuda autocast)
            event_names=event_names,
            event_to_attr=event_to_attr,
            decollate=False,
        )
        if channels_last:
            for net in networks:
                to_channels_last(net)
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        self.adversarial_loss = build_adversarial_loss(adversarial_loss)
        self.gradient_penalty = (
            gradient_penalty if gradient_penalty is not None else default_gradient_penalty(adversarial_loss, lambda_gp)
        )
        self.d_loss_weight = discriminator_loss_weight(adversarial_loss)
        self.keys = tuple(keys)
        self.optim_set_to_none = optim_set_to_none
