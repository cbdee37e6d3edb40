"""Padding of axes shorter than the window, and cropping back."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medtranslate.inferers import crop_back, pad_to_roi, reflect_indices


@pytest.mark.parametrize("size,before,after", [(5, 2, 2), (3, 3, 3), (2, 5, 4), (1, 2, 3), (4, 0, 7)])
def test_reflect_indices_match_numpy_reflect_for_any_width(size, before, after):
    a = np.arange(size)
    expected = np.pad(a, (before, after), mode="reflect") if size > 1 else np.zeros(size + before + after, int)
    np.testing.assert_array_equal(reflect_indices(size, before, after).numpy(), expected)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "constant"])
@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_pad_then_crop_round_trip(mode, spatial_dims):
    shape = (3, 5, 6)[:spatial_dims]
    x = torch.rand(2, 1, *shape)
    roi = (9, 5, 4)[:spatial_dims]
    padded, pads = pad_to_roi(x, roi, mode=mode, cval=-1.0)
    assert tuple(padded.shape[2:]) == tuple(max(s, r) for s, r in zip(shape, roi))
    assert pads[0] == (3, 3) and all(p == (0, 0) for p in pads[1:])
    torch.testing.assert_close(crop_back(padded, pads), x)
    if mode == "constant":
        assert torch.all(padded[:, :, :3] == -1.0)
    if mode == "replicate":
        torch.testing.assert_close(padded[:, :, 0], x[:, :, 0])


def test_nothing_to_pad_returns_the_input():
    x = torch.rand(1, 1, 8, 8)
    padded, pads = pad_to_roi(x, (8, -1))
    assert padded is x and pads == [(0, 0), (0, 0)]
