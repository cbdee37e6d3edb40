"""A sampler whose order depends only on (seed, epoch), and that can start mid-epoch for an exact resume."""

from __future__ import annotations

from collections.abc import Iterator, Sized

import torch.distributed as dist
from torch.utils.data.distributed import DistributedSampler

__all__ = ["ResumableSampler"]


class ResumableSampler(DistributedSampler):
    """``DistributedSampler`` that also works in one process and can skip what a resumed epoch already saw.

    The order of an epoch is a function of ``seed`` and the epoch number only (MONAI's workflows call
    :meth:`set_epoch` at every epoch start), never of the global random state. :meth:`skip` makes the *next* pass
    start after the first ``n`` indices of this rank's share, which is how a run resumed after iteration ``k``
    continues with exactly the samples the uninterrupted run would have drawn.

    Args:
        dataset: the dataset to sample from (only its length is used).
        num_replicas: number of processes; default: the process group's world size, or 1 without one.
        rank: this process's rank; default: the process group's rank, or 0.
        shuffle: draw a fresh permutation every epoch.
        seed: seed of the permutation (the same on every rank).
        drop_last: drop the tail so that every rank gets the same number of samples.
    """

    def __init__(
        self,
        dataset: Sized,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        initialised = dist.is_available() and dist.is_initialized()
        if num_replicas is None:
            num_replicas = dist.get_world_size() if initialised else 1
        if rank is None:
            rank = dist.get_rank() if initialised else 0
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=drop_last)
        self._skip = 0

    def skip(self, n: int) -> None:
        """Make the next pass leave out the first ``n`` indices of this rank's share (one pass only).

        Args:
            n: how many samples of the current epoch were already consumed on this rank.
        """
        self._skip = max(0, int(n))

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        skip, self._skip = self._skip, 0
        return iter(indices[skip:])
