"""Learning-rate policies: constant for N epochs, then a linear decay towards 0 over M epochs."""

from __future__ import annotations

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

__all__ = ["LinearDecayLR", "linear_decay_factor"]


def linear_decay_factor(epoch: int, n_constant: int, n_decay: int) -> float:
    """The reference CycleGAN's "linear" policy: ``1 - max(0, epoch - n_constant) / (n_decay + 1)``.

    Args:
        epoch: the 1-based epoch the factor applies to.
        n_constant: epochs at the initial rate.
        n_decay: epochs of linear decay that follow.

    Returns:
        The multiplier of the initial learning rate during ``epoch``.
    """
    return 1.0 - max(0, epoch - n_constant) / float(n_decay + 1)


class LinearDecayLR(LRScheduler):
    """Hold the learning rate for ``n_constant`` epochs, then decay it linearly over ``n_decay`` epochs.

    Seed 003 uses 50 + 50 at 2e-4. The factor during 1-based epoch ``e`` is
    ``1 - max(0, e - n_constant) / (n_decay + 1)`` (the reference implementation's formula), so the last epoch runs at
    ``lr / (n_decay + 1)`` and the next one would reach 0. Step it once per epoch; the trainers do this at the start
    of every epoch so that a resumed run sees the same rate. Its state is plain numbers (``weights_only``-safe).

    Args:
        optimizer: the optimiser whose groups' ``lr`` is scheduled.
        n_constant: epochs at the initial rate.
        n_decay: epochs of linear decay.
        last_epoch: the index of the last completed epoch (``-1`` for a new run), as in torch schedulers.
    """

    def __init__(self, optimizer: Optimizer, n_constant: int, n_decay: int, last_epoch: int = -1) -> None:
        if n_constant < 0 or n_decay < 0:
            raise ValueError(f"n_constant and n_decay must be >= 0, got {n_constant} and {n_decay}")
        self.n_constant = int(n_constant)
        self.n_decay = int(n_decay)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """Learning rates for epoch ``last_epoch + 1`` (1-based).

        Returns:
            One rate per parameter group.
        """
        factor = linear_decay_factor(self.last_epoch + 1, self.n_constant, self.n_decay)
        return [base * factor for base in self.base_lrs]
