"""What every medtranslate trainer shares: AMP, accumulation, isolated RNG stream, exact resume, checkpoint objects."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from ignite.engine import Events
from monai.engines.utils import IterationEvents
from torch import nn

from medtranslate.engines.amp import autocast, make_grad_scaler, resolve_amp
from medtranslate.engines.checkpoint import load_checkpoint, resolve_checkpoint
from medtranslate.engines.distributed import unwrap
from medtranslate.engines.handlers.oom import report_out_of_memory
from medtranslate.engines.rng import get_rng_state, set_rng_state
from medtranslate.errors import ConfigError

__all__ = ["TrainingMixin", "set_requires_grad", "logits_of", "to_channels_last"]


def set_requires_grad(networks: Sequence[nn.Module], flag: bool) -> None:
    """Switch gradient tracking of every parameter of ``networks``.

    Args:
        networks: the modules (e.g. the discriminators while the generators are updated).
        flag: the new ``requires_grad``.
    """
    for net in networks:
        for p in net.parameters():
            p.requires_grad_(flag)


def to_channels_last(net: nn.Module) -> nn.Module:
    """Convert a network's weights to channels-last (``channels_last_3d`` when it has 3D convolutions).

    Args:
        net: the network, converted in place.

    Returns:
        The same network.
    """
    fmt = torch.channels_last_3d if any(p.dim() == 5 for p in net.parameters()) else torch.channels_last
    return net.to(memory_format=fmt)


def logits_of(output: Any) -> torch.Tensor:
    """The logits of a discriminator, whether it returns a tensor or MONAI's list of features (logits last).

    Args:
        output: what the discriminator returned.

    Returns:
        The logits tensor.
    """
    if isinstance(output, (list, tuple)):
        return output[-1]
    return output


class _RNGCheckpoint:
    """Checkpoint adaptor for the trainer's random-state snapshot (ignite's ``state_dict`` protocol)."""

    def __init__(self, trainer: TrainingMixin) -> None:
        self.trainer = trainer

    def state_dict(self) -> dict[str, Any]:
        snap = self.trainer._rng_snapshot
        return snap if snap is not None else get_rng_state()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.trainer._rng_snapshot = dict(state)
        set_rng_state(dict(state))


class _GradCheckpoint:
    """Checkpoint adaptor for gradients accumulated inside an unfinished accumulation window (empty otherwise)."""

    def __init__(self, trainer: TrainingMixin) -> None:
        self.trainer = trainer

    def _params(self) -> dict[str, list[nn.Parameter]]:
        return {k: list(unwrap(v).parameters()) for k, v in self.trainer.checkpoint_networks().items()}

    def state_dict(self) -> dict[str, Any]:
        if self.trainer.at_step_boundary:
            return {}
        return {
            k: [None if p.grad is None else p.grad.detach().clone() for p in ps] for k, ps in self._params().items()
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for k, ps in self._params().items():
            for p, g in zip(ps, state.get(k, [None] * len(ps))):
                p.grad = None if g is None else g.to(device=p.device, dtype=p.dtype).clone()
        self.trainer.at_step_boundary = not state


class TrainingMixin:
    """Mixed into ``monai.engines.Trainer`` subclasses; call :meth:`_init_training` after ``super().__init__``.

    Behaviour it adds:

    - ``amp`` as ``"bf16"``/``"fp16"``/``None`` on any device; a ``GradScaler`` (``self.grad_scaler``) for fp16 only.
    - Gradient accumulation over ``accumulation_steps`` iterations, with a flush at the end of each epoch.
    - An isolated random stream: the global Python/NumPy/torch states are snapshotted after each step and restored
      before the next, so handlers, data loading or a restart between two steps cannot change what the step draws.
      That snapshot is what checkpoints store, which makes a resumed run repeat the uninterrupted one bit for bit.
    - Exact resume: at the first epoch of a resumed run the :class:`~medtranslate.engines.sampler.ResumableSampler`
      skips the samples the interrupted epoch already used; datasets with ``set_epoch`` get the epoch number;
      epoch-level LR schedulers are brought to ``epoch - 1`` steps at every epoch start.
    - :meth:`checkpoint_objects` lists everything a checkpoint must hold; handlers may add their own state with
      :meth:`register_checkpoint_object`.
    - Out-of-memory failures become a :class:`~medtranslate.engines.errors.TrainingError` naming the patch and
      batch size.
    """

    # -- set-up --------------------------------------------------------------------------------------------------
    def _init_training(
        self,
        amp: str | bool | None = None,
        accumulation_steps: int = 1,
        schedulers: Sequence[Any] | Any | None = None,
        channels_last: bool = False,
        resume_from: str | None = None,
    ) -> None:
        """Set the shared options (call once, after the ignite/MONAI constructor).

        Args:
            amp: ``"auto"`` (bf16 where the device computes it natively), ``"bf16"``, ``"fp16"`` or ``None``/``"fp32"``.
            accumulation_steps: iterations whose gradients are summed before one optimiser step.
            schedulers: epoch-level LR schedulers (one or a sequence).
            channels_last: move inputs to channels-last memory format (networks should be converted too).
            resume_from: a checkpoint file, or a folder whose newest checkpoint is used when there is one; loaded
                when the run starts.

        Raises:
            ConfigError: for a bad ``accumulation_steps`` or a data loader that cannot follow epochs.
        """
        if int(accumulation_steps) < 1:
            raise ConfigError(None, f"accumulation_steps must be a positive integer, got {accumulation_steps!r}")
        self.amp_dtype = resolve_amp(amp, self.state.device)
        self.grad_scaler = make_grad_scaler(self.state.device, self.amp_dtype)
        self.accumulation_steps = int(accumulation_steps)
        if schedulers is None:
            self.schedulers = []
        elif isinstance(schedulers, (list, tuple)):
            self.schedulers = list(schedulers)
        else:
            self.schedulers = [schedulers]
        self.channels_last = bool(channels_last)
        self.resume_from = resume_from
        self._rng_snapshot: dict[str, Any] | None = None
        self._resume_pending = False
        self.at_step_boundary = True
        self.state.last_checkpoint = None
        self._check_loader()
        self.add_event_handler(Events.STARTED, self._on_started)
        self.add_event_handler(Events.EPOCH_STARTED, self._on_epoch_started)

    def _check_loader(self) -> None:
        loader = self.data_loader
        dataset = getattr(loader, "dataset", None)
        follows_epochs = hasattr(dataset, "set_epoch") or hasattr(dataset, "set_patch_size")
        if follows_epochs and getattr(loader, "persistent_workers", False):
            raise ConfigError(
                None,
                "the training dataset changes with the epoch (pairing, patch size) but the DataLoader keeps "
                "persistent workers that would never see it: set persistent_workers=False",
            )

    # -- checkpoint protocol -------------------------------------------------------------------------------------
    def register_checkpoint_object(self, name: str, obj: Any) -> None:
        """Add an object with ``state_dict``/``load_state_dict`` (e.g. a handler's history) to every checkpoint.

        Args:
            name: its key in the checkpoint.
            obj: the object.
        """
        self.__dict__.setdefault("_extra_checkpoint_objects", {})[name] = obj

    @property
    def extra_checkpoint_names(self) -> set[str]:
        """Keys added by handlers; a checkpoint without them can still be resumed."""
        return set(self.__dict__.get("_extra_checkpoint_objects", {}))

    def checkpoint_networks(self) -> dict[str, nn.Module]:
        """The trained networks by checkpoint key (subclasses override).

        Returns:
            name -> network (possibly DDP-wrapped; checkpoints store the unwrapped one).
        """
        raise NotImplementedError

    def checkpoint_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The optimisers by checkpoint key (subclasses override).

        Returns:
            name -> optimiser.
        """
        raise NotImplementedError

    def _checkpoint_extras(self) -> dict[str, Any]:
        return {}

    def checkpoint_objects(self) -> dict[str, Any]:
        """Everything a checkpoint holds, each with ``state_dict``/``load_state_dict``.

        The mapping also works as ``save_dict``/``load_dict`` of MONAI's ``CheckpointSaver``/``CheckpointLoader``.

        Returns:
            ``trainer`` (epoch and iteration), ``rng``, ``pending_grads`` (gradients of an unfinished accumulation
            window, else empty), the networks (unwrapped), optimisers, ``scheduler_<i>``, ``grad_scaler`` (fp16),
            trainer-specific state (image pools) and what handlers registered.
        """
        objs: dict[str, Any] = {"trainer": self, "rng": _RNGCheckpoint(self), "pending_grads": _GradCheckpoint(self)}
        objs.update({k: unwrap(v) for k, v in self.checkpoint_networks().items()})
        objs.update(self.checkpoint_optimizers())
        for i, sched in enumerate(self.schedulers):
            objs[f"scheduler_{i}"] = sched
        if self.grad_scaler is not None:
            objs["grad_scaler"] = self.grad_scaler
        objs.update(self._checkpoint_extras())
        objs.update(self.__dict__.get("_extra_checkpoint_objects", {}))
        return objs

    # -- events --------------------------------------------------------------------------------------------------
    def _on_started(self, engine: Any) -> None:
        self._resume_pending = True
        if self.resume_from:
            path = resolve_checkpoint(self.resume_from)
            if path is not None:
                load_checkpoint(self, path)
                self.logger.info(f"resumed from {path} at epoch {self.state.epoch}, iteration {self.state.iteration}")

    def _on_epoch_started(self, engine: Any) -> None:
        epoch = self.state.epoch
        dataset = getattr(self.data_loader, "dataset", None)
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*lr_scheduler.step.*")
            for sched in self.schedulers:
                while sched.last_epoch < epoch - 1:
                    sched.step()
        if self._resume_pending:
            self._resume_pending = False
            length = self.state.epoch_length
            done = self.state.iteration % length if length else 0
            if done:
                sampler = getattr(self.data_loader, "sampler", None)
                batch_size = getattr(self.data_loader, "batch_size", None) or 1
                if hasattr(sampler, "skip"):
                    sampler.skip(done * batch_size)
                else:
                    warnings.warn(
                        f"resuming in the middle of epoch {epoch}: the data loader's sampler cannot skip the "
                        f"{done} batches already used, so this epoch repeats them; use "
                        "medtranslate.engines.ResumableSampler for an exact resume",
                        stacklevel=2,
                    )

    # -- the step ------------------------------------------------------------------------------------------------
    def _iteration(self, engine: Any, batchdata: Any) -> dict[str, Any]:
        """One training iteration: restore the step's random stream, run :meth:`_train_step`, snapshot the stream.

        Args:
            engine: this trainer (ignite passes it).
            batchdata: the collated batch.

        Returns:
            The step's output dict (losses as floats, detached images).

        Raises:
            ValueError: when the batch is ``None``.
            TrainingError: on a non-finite loss or an out-of-memory failure.
        """
        if batchdata is None:
            raise ValueError("must provide batch data for the current iteration")
        if self._rng_snapshot is not None:
            set_rng_state(self._rng_snapshot)
        with report_out_of_memory(batchdata, self.state.device):
            self.state.output = self._train_step(batchdata)
        self._rng_snapshot = get_rng_state()
        self.fire_event(IterationEvents.MODEL_COMPLETED)  # MONAI's decollate/postprocessing hooks run on it
        return self.state.output

    def _train_step(self, batchdata: Any) -> dict[str, Any]:
        raise NotImplementedError

    def _accumulation_flags(self) -> tuple[bool, bool]:
        """Whether this iteration zeroes the gradients first and whether it ends with an optimiser step."""
        acc = self.accumulation_steps
        if acc == 1:
            self.at_step_boundary = True
            return True, True
        length = self.state.epoch_length
        local = (self.state.iteration - 1) % length if length else self.state.iteration - 1
        zero = local % acc == 0
        step = (local + 1) % acc == 0 or (length is not None and local + 1 == length)
        self.at_step_boundary = step
        return zero, step

    def _autocast(self):
        return autocast(self.state.device, self.amp_dtype)

    def _to_device(self, x: Any) -> Any:
        if not isinstance(x, torch.Tensor):
            return x
        if hasattr(x, "as_tensor"):  # MetaTensor -> plain tensor: no metadata tracking inside the step
            x = x.as_tensor()
        x = x.to(self.state.device, non_blocking=self.non_blocking)
        if self.channels_last and x.ndim in (4, 5):
            x = x.contiguous(memory_format=torch.channels_last if x.ndim == 4 else torch.channels_last_3d)
        return x

    def _backward(self, loss: torch.Tensor) -> None:
        if self.accumulation_steps > 1:
            loss = loss / self.accumulation_steps
        (self.grad_scaler.scale(loss) if self.grad_scaler is not None else loss).backward()

    def _optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.grad_scaler is not None:
            self.grad_scaler.step(optimizer)
        else:
            optimizer.step()

    def _update_scaler(self) -> None:
        if self.grad_scaler is not None:
            self.grad_scaler.update()
