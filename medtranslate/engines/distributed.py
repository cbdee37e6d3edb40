"""torchrun helpers: start the process group (gloo on CPU, nccl on GPU), wrap networks in DDP, unwrap them."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from medtranslate.modelio.checkpoint import unwrap

__all__ = [
    "init_distributed",
    "cleanup_distributed",
    "is_distributed",
    "get_rank",
    "get_world_size",
    "is_main_process",
    "wrap_ddp",
    "unwrap",
]


def is_distributed() -> bool:
    """Whether a process group is running.

    Returns:
        ``True`` inside an initialised ``torch.distributed`` group.
    """
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    """This process's rank (0 outside a process group).

    Returns:
        The global rank.
    """
    return dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    """The number of processes (1 outside a process group).

    Returns:
        The world size.
    """
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """Whether this process logs and writes checkpoints (rank 0).

    Returns:
        ``True`` on rank 0 or without a process group.
    """
    return get_rank() == 0


def init_distributed(backend: str | None = None) -> torch.device:
    """Join the torchrun process group when there is one, and return this process's device.

    Reads ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` as torchrun sets them. With no ``WORLD_SIZE`` (or 1) nothing
    is initialised and the device is ``cuda`` when available, else ``cpu``.

    Args:
        backend: ``"nccl"`` or ``"gloo"``; default: nccl when CUDA is available, else gloo.

    Returns:
        ``cuda:<LOCAL_RANK>`` (made current) or ``cpu``.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device(f"cuda:{local_rank}") if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world > 1 and not is_distributed():
        dist.init_process_group(backend=backend or ("nccl" if cuda else "gloo"))
    return device


def cleanup_distributed() -> None:
    """Leave the process group if one is running."""
    if is_distributed():
        dist.destroy_process_group()


def wrap_ddp(module: nn.Module, device: torch.device | str | None = None, **kwargs) -> nn.Module:
    """Move ``module`` to ``device`` and wrap it in ``DistributedDataParallel`` when a group is running.

    Args:
        module: the network.
        device: its device; ``device_ids`` is set for CUDA devices only (gloo on CPU takes none).
        kwargs: more ``DistributedDataParallel`` arguments.

    Returns:
        The DDP-wrapped network, or the network itself outside a process group.
    """
    if device is not None:
        module = module.to(device)
    if not is_distributed():
        return module
    device = None if device is None else torch.device(device)
    if device is not None and device.type == "cuda":
        kwargs.setdefault("device_ids", [device])
        kwargs.setdefault("output_device", device)
    return DistributedDataParallel(module, **kwargs)
