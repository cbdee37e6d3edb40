"""Streaming tiled inference: exact on pointwise networks, seamless on convolutions, bounded rows in memory."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medtranslate.errors import ConfigError
from medtranslate.inferers import TiledStreamTranslator, window_starts_1d


def _reader(img: np.ndarray):
    rows, cols = img.shape[1:]

    def read(y, x, h, w):
        yy = np.abs(np.arange(y, y + h))
        yy = np.where(yy >= rows, 2 * rows - 2 - yy, yy)
        xx = np.abs(np.arange(x, x + w))
        xx = np.where(xx >= cols, 2 * cols - 2 - xx, xx)
        return img[:, yy][:, :, xx]

    return read


def test_pointwise_network_is_reproduced_exactly_band_by_band():
    img = np.random.default_rng(0).random((2, 150, 211)).astype(np.float32)
    t = TiledStreamTranslator(window=32, stride=16, sw_batch_size=5, out_channels=3)
    bands = list(t.bands(lambda x: torch.cat([x, x[:, :1] * 2], 1), _reader(img), (150, 211)))
    assert [b.shape[1] for b in bands] == [16] * 9 + [6]
    out = np.concatenate(bands, 1)
    assert np.allclose(out[:2], img, atol=1e-6) and np.allclose(out[2], 2 * img[0], atol=1e-6)


def test_convolution_has_no_seams_inside_the_image():
    img = np.random.default_rng(1).random((1, 96, 120)).astype(np.float32)
    conv = torch.nn.Conv2d(1, 1, 5, padding=2, bias=False)
    torch.nn.init.uniform_(conv.weight)
    t = TiledStreamTranslator(window=48, stride=16, out_channels=1)
    out = np.concatenate(list(t.bands(conv, _reader(img), (96, 120))), 1)[0]
    with torch.no_grad():
        ref = conv(torch.from_numpy(np.pad(img, ((0, 0), (2, 2), (2, 2)), mode="reflect"))[None])[0, 0, 2:-2, 2:-2]
    # window borders see zero padding, the Gaussian weights there are tiny: interior within 1 % of the whole-image conv
    assert np.abs(out[8:-8, 8:-8] - ref.numpy()[8:-8, 8:-8]).max() < 0.01 * float(ref.max())


def test_window_starts_cover_the_axis_and_bad_settings():
    starts = window_starts_1d(100, 32, 16, 8)
    assert starts[0] == -8 and starts[-1] + 32 >= 108
    assert window_starts_1d(10, 32, 16, 8) == [-8]
    with pytest.raises(ConfigError):
        TiledStreamTranslator(window=32, stride=40)
    with pytest.raises(ConfigError):
        TiledStreamTranslator(amp="fp8")
