"""Supervised training (despeckling net, VAE, EDSR, distillation classifiers) on MONAI's ``SupervisedTrainer``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from monai.engines import SupervisedTrainer
from torch import nn
from torch.optim import Optimizer

from medtranslate.engines.base import TrainingMixin, to_channels_last
from medtranslate.engines.handlers.nan_guard import finite_loss_values

__all__ = ["ResumableSupervisedTrainer"]


class ResumableSupervisedTrainer(TrainingMixin, SupervisedTrainer):
    """MONAI's ``SupervisedTrainer`` with medtranslate's checkpoints, exact resume, AMP on any device and guards.

    The step: ``pred = inferer(batch[image_key], network)``; ``loss = loss_function(pred, batch[label_key])``, or
    ``loss_function(pred, batch[label_key], teacher(batch[teacher_key]))`` when a frozen ``teacher`` is given
    (knowledge distillation: e.g. an OCT teacher guiding a fundus student). ``pred`` may be a tuple (a VAE's
    ``(reconstruction, mu, logvar)``); the loss function receives it as is. Everything else (inferer, metrics,
    handlers, ``compile``) is MONAI's. The overridden step adds what MONAI's lacks: bf16/fp16 autocast on CPU or GPU,
    the NaN/Inf stop before the update, the isolated random stream and the out-of-memory message.

    Args:
        device: the device of the step.
        max_epochs: epochs to train.
        train_data_loader: yields dict batches.
        network: the trained network (may be DDP-wrapped).
        optimizer: its optimiser.
        loss_function: ``loss(pred, target)`` or, with a teacher, ``loss(pred, target, teacher_pred)``.
        image_key: batch key of the network input.
        label_key: batch key of the target (class index, clean image, high-resolution image, ...).
        teacher: frozen teacher network for distillation (not saved in checkpoints: it comes from its own weights).
        teacher_key: batch key of the teacher's input; default ``image_key``.
        schedulers: epoch-level LR schedulers.
        amp: ``"bf16"``, ``"fp16"`` or ``None``.
        accumulation_steps: iterations per optimiser step.
        channels_last: channels-last inputs and network.
        resume_from: checkpoint file or folder to resume from when the run starts.
        decollate: MONAI's decollation of the output (off by default: tuple predictions would not survive it).
        kwargs: any other ``monai.engines.SupervisedTrainer`` argument (``inferer``, ``train_handlers``,
            ``key_train_metric``, ``epoch_length``, ``compile``, ...).
    """

    def __init__(
        self,
        device: str | torch.device,
        max_epochs: int,
        train_data_loader: Iterable,
        network: nn.Module,
        optimizer: Optimizer,
        loss_function: Callable,
        image_key: str = "image",
        label_key: str = "label",
        teacher: nn.Module | None = None,
        teacher_key: str | None = None,
        schedulers: Sequence[Any] | Any | None = None,
        amp: str | bool | None = None,
        accumulation_steps: int = 1,
        channels_last: bool = False,
        resume_from: str | None = None,
        decollate: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("amp_kwargs", None)
        super().__init__(
            device=device,
            max_epochs=max_epochs,
            train_data_loader=train_data_loader,
            network=network,
            optimizer=optimizer,
            loss_function=loss_function,
            amp=False,  # AMP is handled here for any device and dtype (MONAI's hard-codes cuda autocast)
            decollate=decollate,
            accumulation_steps=1,  # accumulation is handled here, together with AMP and the resume logic
            **kwargs,
        )
        if channels_last:
            to_channels_last(network)
        self.image_key, self.label_key = image_key, label_key
        self.teacher = teacher
        self.teacher_key = teacher_key or image_key
        if teacher is not None:
            teacher.eval()
            for p in teacher.parameters():
                p.requires_grad_(False)
        self._init_training(amp, accumulation_steps, schedulers, channels_last, resume_from)

    def checkpoint_networks(self) -> dict[str, nn.Module]:
        """The trained network.

        Returns:
            ``{"network": network}``.
        """
        return {"network": self.network}

    def checkpoint_optimizers(self) -> dict[str, Optimizer]:
        """The optimiser.

        Returns:
            ``{"optimizer": optimizer}``.
        """
        return {"optimizer": self.optimizer}

    def _train_step(self, batchdata: Any) -> dict[str, Any]:
        inputs = self._to_device(batchdata[self.image_key])
        targets = self._to_device(batchdata[self.label_key])
        zero, step = self._accumulation_flags()
        self.network.train()
        if zero:
            self.optimizer.zero_grad(set_to_none=self.optim_set_to_none)
        with self._autocast():
            pred = self.inferer(inputs, self.network)
            if self.teacher is not None:
                with torch.no_grad():
                    teacher_pred = self.teacher(self._to_device(batchdata[self.teacher_key]))
                loss = self.loss_function(pred, targets, teacher_pred).mean()
            else:
                loss = self.loss_function(pred, targets).mean()
        values = finite_loss_values({"loss": loss}, self)
        self._backward(loss)
        if step:
            self._optimizer_step(self.optimizer)
            self._update_scaler()
        detach = lambda x: x.detach() if isinstance(x, torch.Tensor) else x  # noqa: E731
        if isinstance(pred, (tuple, list)):
            pred = type(pred)(detach(p) for p in pred)
        return {"image": inputs.detach(), "label": detach(targets), "pred": detach(pred), **values}
