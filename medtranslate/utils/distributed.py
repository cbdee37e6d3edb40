"""Share a batch (``translate``, ``convert``) among the processes of a ``torchrun`` launch.

``torchrun --nnodes N --nproc_per_node M -m medtranslate translate ...`` starts N x M processes with ``RANK`` and
``WORLD_SIZE`` in their environment. Every process discovers the same inputs in the same order; item ``i`` belongs to
rank ``i % WORLD_SIZE`` (round robin, so that neighbouring - often similar - inputs spread over the ranks); each rank
writes only its own items, and rank 0 writes the one report after gathering every rank's rows. A failed item is a row
like any other: it stops nobody.

Without those variables (or with ``WORLD_SIZE=1``) nothing here imports torch: a plain ``medtranslate convert`` of
DICOM stays a NumPy + pydicom program. The rows are exchanged over a gloo process group (CPU, any network), so
GPU ranks need no NCCL for it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from medtranslate.errors import ConfigError

__all__ = ["Shard", "current_shard"]


@dataclass(frozen=True)
class Shard:
    """This process's place in a launch.

    Args:
        rank: the process's rank (``RANK``), 0 when not launched by torchrun.
        world_size: the number of processes (``WORLD_SIZE``), 1 when not launched by torchrun.
        local_rank: the rank on this node (``LOCAL_RANK``), for picking this process's GPU.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        """Whether there is more than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0 (the one that writes the report)."""
        return self.rank == 0

    def owns(self, index: int) -> bool:
        """Whether item ``index`` (in the discovery order every rank shares) is this rank's to process.

        Args:
            index: the item's position in the discovered inputs.
        """
        return index % self.world_size == self.rank

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order, on every rank (a barrier: all ranks must call it).

        Args:
            obj: a picklable object (this rank's report rows).

        Returns:
            ``[obj]`` when not distributed, else one entry per rank.
        """
        if not self.distributed:
            return [obj]
        # imported only here: a launch without torchrun must not pay for (or need) torch
        import torch.distributed as dist

        created = not dist.is_initialized()
        if created:
            dist.init_process_group("gloo", rank=self.rank, world_size=self.world_size)
        group = dist.new_group(backend="gloo") if dist.get_backend() != "gloo" else None
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj, group=group)
        if created:
            dist.destroy_process_group()
        return out


def current_shard(environ: dict[str, str] | None = None) -> Shard:
    """This process's :class:`Shard`, from torchrun's environment variables.

    Args:
        environ: the environment (default ``os.environ``).

    Returns:
        ``Shard(RANK, WORLD_SIZE, LOCAL_RANK)``; ``Shard()`` when they are unset.
    """
    env = os.environ if environ is None else environ
    world = int(env.get("WORLD_SIZE", "1") or 1)
    rank = int(env.get("RANK", "0") or 0)
    local = int(env.get("LOCAL_RANK", str(rank)) or 0)
    if world < 1 or not 0 <= rank < world:
        raise ConfigError(None, f"RANK {rank} and WORLD_SIZE {world} do not describe a launch")
    return Shard(rank=rank, world_size=world, local_rank=local)
