"""Tiny networks and data for the engine tests (importable by spawned processes)."""

from __future__ import annotations

import itertools

import torch
from monai.networks.layers.factories import Act, Conv, Norm
from torch import nn


class TinyGenerator(nn.Module):
    """conv-instance norm-relu-(dropout)-conv-tanh, 2D or 3D."""

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int, width: int = 4, dropout: float = 0.0):
        super().__init__()
        conv = Conv[Conv.CONV, spatial_dims]
        self.net = nn.Sequential(
            conv(in_channels, width, 3, padding=1),
            Norm[Norm.INSTANCE, spatial_dims](width, affine=True),
            Act[Act.RELU](),
            nn.Dropout(dropout),
            conv(width, out_channels, 3, padding=1),
            nn.Tanh(),
        )

    def forward(self, x):
        return self.net(x)


class TinyDiscriminator(nn.Module):
    """Two convs returning patch logits, 2D or 3D."""

    def __init__(self, spatial_dims: int, in_channels: int, width: int = 4):
        super().__init__()
        conv = Conv[Conv.CONV, spatial_dims]
        self.net = nn.Sequential(conv(in_channels, width, 3, stride=2, padding=1), nn.LeakyReLU(0.2), conv(width, 1, 3))

    def forward(self, x):
        return self.net(x)


def lsgan(logits, target_is_real, for_discriminator=True):
    """Plain LSGAN on logits."""
    return torch.mean((logits - (1.0 if target_is_real else 0.0)) ** 2)


def make_cyclegan_parts(spatial_dims=2, ch_a=1, ch_b=1, lr=2e-4, dropout=0.0, seed=0):
    """Networks and optimisers for a tiny CycleGAN (deterministic for a seed)."""
    torch.manual_seed(seed)
    g_ab = TinyGenerator(spatial_dims, ch_a, ch_b, dropout=dropout)
    g_ba = TinyGenerator(spatial_dims, ch_b, ch_a, dropout=dropout)
    d_a = TinyDiscriminator(spatial_dims, ch_a)
    d_b = TinyDiscriminator(spatial_dims, ch_b)
    g_opt = torch.optim.Adam(itertools.chain(g_ab.parameters(), g_ba.parameters()), lr=lr, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(itertools.chain(d_a.parameters(), d_b.parameters()), lr=lr, betas=(0.5, 0.999))
    return dict(g_ab=g_ab, g_ba=g_ba, d_a=d_a, d_b=d_b, g_optimizer=g_opt, d_optimizer=d_opt)


def random_images(n, channels, spatial, seed):
    """``n`` images in [-1, 1] as tensors."""
    g = torch.Generator().manual_seed(seed)
    return [torch.rand((channels, *spatial), generator=g) * 2 - 1 for _ in range(n)]
