"""Argument parsing shared by the networks, parameter counting and receptive-field measurement.

The argument helpers accept only plain ``int`` / ``list`` / ``tuple`` values so that every network can be built from a
bundle JSON config (``_target_``); they turn them into per-axis tuples and raise a ``ValueError`` that names the
argument when the value has the wrong form.
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

__all__ = [
    "per_axis",
    "per_item",
    "same_padding",
    "norm_spec",
    "conv_bias_for",
    "count_parameters",
    "receptive_field",
    "check_input",
]

NormSpec = str | tuple | list | None


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_int_seq(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str) and all(_is_int(v) for v in value)


def per_axis(value: int | Sequence[int], spatial_dims: int, name: str, minimum: int = 1) -> tuple[int, ...]:
    """Expand an int or a per-axis sequence to one positive int per spatial axis.

    Args:
        value: one int for every axis, or exactly ``spatial_dims`` ints.
        spatial_dims: number of spatial axes (2 or 3).
        name: the argument's name, used in the error message.
        minimum: the smallest value allowed.

    Returns:
        A tuple of ``spatial_dims`` ints.

    Raises:
        ValueError: when ``value`` is neither form or holds a value below ``minimum``.
    """
    if _is_int(value):
        out = (int(value),) * spatial_dims
    elif _is_int_seq(value) and len(value) == spatial_dims:
        out = tuple(int(v) for v in value)
    else:
        raise ValueError(f"{name} must be an int or {spatial_dims} ints (one per spatial axis), got {value!r}")
    if min(out) < minimum:
        raise ValueError(f"{name} must be at least {minimum} on every axis, got {value!r}")
    return out


def per_item(
    value: int | Sequence[int] | Sequence[int | Sequence[int]],
    num_items: int,
    spatial_dims: int,
    name: str,
    minimum: int = 1,
) -> tuple[tuple[int, ...], ...]:
    """Expand a value that may differ per layer (item) and per axis.

    Accepted forms: an int (every item, every axis); a flat sequence of ``spatial_dims`` ints (every item, per axis);
    a sequence of ``num_items`` entries, each an int or a per-axis sequence, which must contain at least one nested
    sequence (a flat list of ints is always read as per-axis).

    Args:
        value: the argument as given.
        num_items: number of layers the value is for.
        spatial_dims: number of spatial axes.
        name: the argument's name, used in the error message.
        minimum: the smallest value allowed.

    Returns:
        ``num_items`` tuples of ``spatial_dims`` ints.

    Raises:
        ValueError: when the value has none of the accepted forms.
    """
    if _is_int(value) or _is_int_seq(value):
        return (per_axis(value, spatial_dims, name, minimum),) * num_items  # type: ignore[arg-type]
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == num_items:
        return tuple(per_axis(v, spatial_dims, f"{name}[{i}]", minimum) for i, v in enumerate(value))
    raise ValueError(
        f"{name} must be an int, {spatial_dims} ints (per axis), or {num_items} such entries (one per layer), "
        f"got {value!r}"
    )


def same_padding(kernel_size: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """Per-axis (before, after) padding that keeps the size through a stride-1 convolution.

    An odd kernel ``k`` gets ``(k-1)/2`` on both sides; an even kernel needs one more on one side: the extra one goes
    *after* (``k=2`` -> ``(0, 1)``, ``k=8`` -> ``(3, 4)``).

    Args:
        kernel_size: one kernel size per axis.

    Returns:
        One ``(before, after)`` pair per axis.
    """
    return tuple(((k - 1) // 2, k - 1 - (k - 1) // 2) for k in kernel_size)


def norm_spec(norm: NormSpec) -> str | tuple | None:
    """Normalise a norm argument to what MONAI's ``get_norm_layer`` takes.

    JSON gives ``["group", {"num_groups": 8}]`` as a list: it becomes a tuple. ``"layer"`` becomes
    ``("group", {"num_groups": 1})``: MONAI's "layer" is ``nn.LayerNorm`` over the last axis only, which is not layer
    normalisation of a feature map; one-group GroupNorm normalises over channels and space per sample.

    Args:
        norm: ``None``/``"none"``, a MONAI norm name, or a ``(name, kwargs)`` pair.

    Returns:
        ``None`` or a value for MONAI's norm factories.

    Raises:
        ValueError: when the value is not a name or a (name, kwargs) pair.
    """
    if norm is None or (isinstance(norm, str) and norm.lower() in ("", "none")):
        return None
    if isinstance(norm, list):
        norm = tuple(norm)
    name, kwargs = (norm, {}) if isinstance(norm, str) else (norm[0], dict(norm[1]) if len(norm) > 1 else {})
    if not isinstance(name, str) or (isinstance(norm, tuple) and len(norm) > 2):
        raise ValueError(f"norm must be None, a name or a (name, kwargs) pair, got {norm!r}")
    if name.lower() == "layer":
        return ("group", {"num_groups": 1, **kwargs})
    return (name, kwargs) if kwargs else name


def conv_bias_for(norm: NormSpec) -> bool:
    """Whether a convolution followed by ``norm`` carries a bias, following pix2pix/CycleGAN.

    A norm with a learnable shift (batch, group, affine instance norm) makes the bias redundant, so it is off; a
    non-affine instance norm keeps it on (as the reference does, which its parameter counts depend on); no norm keeps
    it on.

    Args:
        norm: the norm argument as given to a network.

    Returns:
        ``True`` when the convolution should have a bias.
    """
    spec = norm_spec(norm)
    if spec is None:
        return True
    name, kwargs = (spec, {}) if isinstance(spec, str) else spec
    name = name.lower()
    if name.startswith("instance"):
        return not kwargs.get("affine", False)
    return name == "localresponse"


def count_parameters(net: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of ``net``.

    Args:
        net: the network (a model built on the ``meta`` device works and costs no memory).
        trainable_only: count only parameters with ``requires_grad``.

    Returns:
        The parameter count.
    """
    return sum(p.numel() for p in net.parameters() if p.requires_grad or not trainable_only)


_NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)


def _replace_modules(net: nn.Module, predicate) -> None:
    for name, child in list(net.named_children()):
        if predicate(child):
            setattr(net, name, nn.Identity())
        else:
            _replace_modules(child, predicate)


def receptive_field(
    net: nn.Module,
    spatial_dims: int,
    in_channels: int,
    size: int | Sequence[int],
    uniform_weights: bool = True,
) -> tuple[int, ...]:
    """Measure the receptive field of one output element by back-propagation.

    A copy of ``net`` is made with every normalisation layer replaced by identity (instance or batch statistics would
    make each output depend on the whole input), in float64 and eval mode. The gradient of the centre output element
    (first output channel; the last element when the network returns a list) with respect to the input is computed,
    and the extent of its non-zero region is returned per axis.

    With ``uniform_weights`` (the default) activations are replaced by identity too and every convolution gets a
    constant positive kernel with zero bias, so the copy is a positive linear filter: no ReLU dead zone or chance
    cancellation can hide part of the field, and the result is the architectural receptive field.

    Args:
        net: the network; it is not modified.
        spatial_dims: number of spatial axes.
        in_channels: input channels of ``net``.
        size: input spatial size (int or per axis); choose it larger than the field so the field is not clipped.
        uniform_weights: linearise the copy as described above; ``False`` keeps its weights and activations.

    Returns:
        Extent of the input region that the centre output element depends on, per spatial axis.
    """
    size_t = per_axis(size, spatial_dims, "size")
    probe = copy.deepcopy(net).to(device="cpu", dtype=torch.float64).eval()
    _replace_modules(probe, lambda m: isinstance(m, _NORMS))
    if uniform_weights:
        _replace_modules(probe, lambda m: type(m).__module__ == "torch.nn.modules.activation")
        with torch.no_grad():
            for m in probe.modules():
                if isinstance(m, nn.modules.conv._ConvNd):
                    fan = m.weight[0].numel() if not m.transposed else m.weight.shape[0] * m.weight[0, 0].numel()
                    m.weight.fill_(1.0 / fan)
                    if m.bias is not None:
                        m.bias.zero_()
    x = torch.randn(1, in_channels, *size_t, dtype=torch.float64, requires_grad=True)
    out = probe(x)
    if isinstance(out, (list, tuple)):
        out = out[-1]
    centre = tuple(s // 2 for s in out.shape[2:])
    out[(0, 0, *centre)].backward()
    nonzero = (x.grad[0].abs().sum(0) > 0).nonzero()
    if nonzero.numel() == 0:
        return (0,) * spatial_dims
    return tuple(int(nonzero[:, d].max() - nonzero[:, d].min() + 1) for d in range(spatial_dims))


def _axis_name(spatial_dims: int, axis: int) -> str:
    names = ("D", "H", "W")[3 - spatial_dims :] if spatial_dims <= 3 else tuple(f"S{i}" for i in range(spatial_dims))
    return f"{names[axis]} (tensor dim {axis + 2})"


def check_input(
    x: torch.Tensor,
    spatial_dims: int,
    in_channels: int,
    factor: Sequence[int] = (),
    min_size: Sequence[int] = (),
    name: str = "network",
) -> None:
    """Check a network input's rank, channels and spatial size before running it.

    Args:
        x: the input tensor ``(N, C, *spatial)``.
        spatial_dims: expected number of spatial axes.
        in_channels: expected channels.
        factor: per axis, the number each spatial size must be divisible by (empty: no constraint).
        min_size: per axis, the smallest size that works (empty: no constraint).
        name: the network's name for the message.

    Raises:
        ValueError: saying which axis is wrong and what it must be; the input is never silently cropped.
    """
    if torch.jit.is_tracing():  # shapes are tensors while tracing: a TorchScript trace carries no Python checks
        return
    if x.ndim != spatial_dims + 2:
        raise ValueError(
            f"{name} expects a {spatial_dims + 2}-D tensor (N, C, {spatial_dims} spatial axes), got shape "
            f"{tuple(x.shape)}"
        )
    if x.shape[1] != in_channels:
        raise ValueError(f"{name} expects {in_channels} input channels, got {x.shape[1]} (shape {tuple(x.shape)})")
    for axis, size in enumerate(x.shape[2:]):
        if factor and size % factor[axis]:
            f = factor[axis]
            lower, upper = (size // f) * f, (size // f + 1) * f
            hint = f"{lower} or {upper}" if lower else f"{upper}"
            raise ValueError(
                f"{name}: input size {size} on axis {_axis_name(spatial_dims, axis)} is not divisible by {f}, the "
                f"total downsampling factor on that axis; pad or crop it to a multiple of {f} (e.g. {hint})"
            )
        if min_size and size < min_size[axis]:
            raise ValueError(
                f"{name}: input size {size} on axis {_axis_name(spatial_dims, axis)} is too small; this network "
                f"needs at least {min_size[axis]} on that axis"
            )
