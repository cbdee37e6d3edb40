"""Find trainer checkpoints and load network weights from them with ``weights_only=True``."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from medtranslate.errors import InputError
from medtranslate.utils.atomic import atomic_path

__all__ = [
    "list_checkpoints",
    "resolve_checkpoint",
    "find_checkpoint",
    "read_checkpoint",
    "network_state",
    "load_network",
    "unwrap",
    "stage_checkpoint",
]

_NAME = re.compile(r"^(?P<prefix>.+)_(?P<iteration>\d+)\.pt$")
#: checkpoint entries that are not networks.
_NOT_NETWORKS = ("meta", "trainer", "rng", "settings")


def list_checkpoints(folder: str | os.PathLike, prefix: str = "checkpoint") -> list[tuple[int, Path]]:
    """The periodic checkpoints in ``folder``, oldest first.

    Args:
        folder: the checkpoint folder.
        prefix: file name prefix (``<prefix>_<iteration>.pt``).

    Returns:
        ``(iteration, path)`` pairs sorted by iteration.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        m = _NAME.match(p.name)
        if m and m["prefix"] == prefix and p.is_file():
            found.append((int(m["iteration"]), p))
    return sorted(found)


def resolve_checkpoint(path: str | os.PathLike, prefix: str = "checkpoint") -> Path | None:
    """A checkpoint file as given, or the newest one in a folder (``None`` when the folder has none yet).

    Args:
        path: a ``.pt`` file or a checkpoint folder.
        prefix: file name prefix of periodic checkpoints.

    Returns:
        The file to load, or ``None`` for an empty or missing folder (a fresh run).

    Raises:
        InputError: when a file path is given and does not exist.
    """
    path = Path(path)
    if path.is_dir() or not path.suffix:
        found = list_checkpoints(path, prefix)
        return found[-1][1] if found else None
    if not path.is_file():
        raise InputError(path, "checkpoint not found")
    return path


def find_checkpoint(path: str | os.PathLike) -> Path:
    """The checkpoint file to read for inference: ``path`` itself, or the newest ``checkpoint_*.pt`` of a folder.

    Args:
        path: a checkpoint file (or a bundle's ``models/model.pt``) or a checkpoint folder.

    Raises:
        InputError: when nothing is there, or the folder holds no checkpoint.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "checkpoint not found (train the bundle first, or pass --checkpoint FILE)")
    resolved = resolve_checkpoint(path)
    if resolved is None:
        raise InputError(path, "holds no checkpoint_*.pt file")
    return resolved


def read_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """The whole checkpoint dictionary, read with ``torch.load(..., weights_only=True)``.

    Args:
        path: the checkpoint file.
        map_location: where to load tensors.

    Returns:
        The checkpoint's entries (networks, optimisers, ``meta``, ...).

    Raises:
        InputError: when the file cannot be read or is not a dictionary.
    """
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # corrupt, truncated, or not written with weights_only-safe types
        raise InputError(path, f"cannot read the checkpoint ({type(e).__name__}: {str(e).splitlines()[0]})") from e
    if not isinstance(ckpt, dict):
        raise InputError(path, "not a medtranslate checkpoint")
    return ckpt


def network_state(path: str | os.PathLike, key: str, map_location: Any = "cpu") -> dict[str, Any]:
    """One network's weights from a checkpoint, e.g. to build an inference bundle from ``g_ab``.

    A plain state dict (``models/model.pt`` holding one network's weights) is returned for any ``key``.

    Args:
        path: the checkpoint file.
        key: the network key (``g_ab``, ``g_ba``, ``d_a``, ``d_b``, ``generator``, ``network``, ...).
        map_location: where to load.

    Returns:
        The network's state dict.

    Raises:
        InputError: when the file cannot be read or holds no such network.
    """
    ckpt = read_checkpoint(path, map_location)
    if key in ckpt and isinstance(ckpt[key], dict):
        return ckpt[key]
    if ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        return ckpt  # a bare state dict
    keys = ", ".join(k for k in ckpt if k not in _NOT_NETWORKS)
    raise InputError(path, f"no network {key!r} in this checkpoint (it has: {keys})")


def unwrap(module: nn.Module) -> nn.Module:
    """The network inside a DDP / DataParallel / ``torch.compile`` wrapper (or the network itself).

    Args:
        module: a network, possibly wrapped.

    Returns:
        The innermost module, whose ``state_dict`` has no ``module.`` prefixes.
    """
    while True:
        if isinstance(module, (DistributedDataParallel, nn.DataParallel)):
            module = module.module
        elif hasattr(module, "_orig_mod"):
            module = module._orig_mod
        else:
            return module


def mismatched_tensors(net: nn.Module, state: dict[str, Any], limit: int = 4) -> str:
    """Name the tensors whose shapes differ between ``net`` and ``state`` (and the missing / unexpected ones).

    Args:
        net: the network built from the config.
        state: the saved weights.
        limit: how many names to list per kind.

    Returns:
        One line such as ``"stem.conv.weight: saved (8, 1, 7, 7), network (64, 1, 7, 7); 12 missing"``.
    """
    own = net.state_dict()
    parts = []
    shapes = [
        f"{k}: saved {tuple(v.shape)}, network {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and hasattr(v, "shape") and tuple(v.shape) != tuple(own[k].shape)
    ]
    if shapes:
        more = f" (+{len(shapes) - limit} more)" if len(shapes) > limit else ""
        parts.append("; ".join(shapes[:limit]) + more)
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing:
        parts.append(f"{len(missing)} missing in the file (e.g. {missing[0]})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected in the file (e.g. {unexpected[0]})")
    return "; ".join(parts)


def load_network(net: nn.Module, path: str | os.PathLike, key: str, hint: str | None = None) -> nn.Module:
    """Load one network's weights from a checkpoint into ``net``.

    Args:
        net: the network (DDP-wrapped is fine).
        path: the checkpoint file.
        key: the network key in the checkpoint.
        hint: what to do when the weights do not fit (e.g. which config keys to set), added to the error.

    Returns:
        ``net``.

    Raises:
        InputError: when the file holds no such network or its shapes differ (one line naming the tensors).
    """
    state = network_state(path, key)
    inner = unwrap(net)
    try:
        inner.load_state_dict(state)
    except RuntimeError as e:
        detail = mismatched_tensors(inner, state) or str(e).splitlines()[0]
        msg = f"weights of {key!r} do not fit this network: {detail}"
        raise InputError(path, msg + (f"; {hint}" if hint else "")) from e
    return net


__all__ += ["mismatched_tensors", "atomic_save_torch"]


def atomic_save_torch(obj: Any, final: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary name, fsync, then rename over ``final``.

    Args:
        obj: the object to save (a state dict of tensors and plain Python containers).
        final: the checkpoint path.

    Returns:
        The final path.
    """
    with atomic_path(final) as tmp:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
    return Path(final)


def stage_checkpoint(path: str | os.PathLike, stage: str) -> Path:
    """The checkpoint of one stage of a multi-stage bundle, given the stage's own checkpoint or the training output.

    A multi-stage bundle (fundus_synthesis: ``vae``, ``pix2pix``, ``edsr``) trains each stage into
    ``<output_dir>/<stage>/checkpoints``; users may pass that folder, a file in it, or ``<output_dir>`` itself.

    Args:
        path: a checkpoint file, a checkpoint folder, or a training output folder holding ``<stage>/``.
        stage: the stage name.

    Returns:
        ``path/<stage>/checkpoints`` or ``path/<stage>`` when one exists, else ``path`` unchanged.
    """
    path = Path(path)
    for candidate in (path / stage / "checkpoints", path / stage):
        if candidate.is_dir():
            return candidate
    return path
