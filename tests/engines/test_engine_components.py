"""Image pool, linear-decay LR policy, resumable sampler."""

from __future__ import annotations

import io

import pytest
import torch

from medtranslate.engines import ImagePool, LinearDecayLR, ResumableSampler, linear_decay_factor


def _images(n, value_offset=0.0):
    return torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, 2, 2) + value_offset


def test_pool_size_zero_passes_images_through():
    pool = ImagePool(0)
    x = torch.randn(3, 1, 4, 4, requires_grad=True)
    out = pool.query(x)
    assert torch.equal(out, x) and not out.requires_grad and len(pool) == 0


def test_pool_fills_then_swaps_with_probability_half():
    pool = ImagePool(4, seed=0)
    first = pool.query(_images(4))
    assert torch.equal(first, _images(4)) and len(pool) == 4  # while filling: returned as is
    returned_old = 0
    n = 2000
    for i in range(n):
        new = torch.full((1, 1, 2, 2), 100.0 + i)
        out = pool.query(new)
        returned_old += int(not torch.equal(out, new))
        assert len(pool) == 4
    assert abs(returned_old / n - 0.5) < 0.05


def test_pool_state_round_trip_continues_identically():
    a, b = ImagePool(3, seed=5), ImagePool(3, seed=99)
    for i in range(5):
        a.query(_images(2, 10 * i))
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    b.load_state_dict(torch.load(buf, weights_only=True))
    for i in range(10):
        x = _images(2, 100 + i)
        assert torch.equal(a.query(x), b.query(x))
    with pytest.raises(ValueError, match="holds 3 images"):
        ImagePool(4).load_state_dict(a.state_dict())


def test_linear_decay_follows_reference_formula_50_plus_50():
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=2e-4)
    sched = LinearDecayLR(opt, n_constant=50, n_decay=50)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:50] == [2e-4] * 50
    assert lrs[50] == pytest.approx(2e-4 * (1 - 1 / 51))
    assert lrs[99] == pytest.approx(2e-4 / 51)
    assert all(x > y for x, y in zip(lrs[50:], lrs[51:]))  # strictly decreasing during the decay
    assert linear_decay_factor(101, 50, 50) == pytest.approx(0.0)
    state = sched.state_dict()
    assert set(state) >= {"n_constant", "n_decay", "last_epoch", "base_lrs"}
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    torch.load(buf, weights_only=True)


def test_resumable_sampler_order_depends_on_seed_and_epoch_only():
    data = list(range(10))
    s1, s2 = ResumableSampler(data, seed=3), ResumableSampler(data, seed=3)
    torch.manual_seed(123)  # the global state must not matter
    s1.set_epoch(2)
    torch.manual_seed(456)
    s2.set_epoch(2)
    order = list(s1)
    assert order == list(s2) and sorted(order) == data
    s2.set_epoch(3)
    assert list(s2) != order
    s1.skip(4)
    assert list(s1) == order[4:]
    assert list(s1) == order  # skipping is one-shot


def test_resumable_sampler_splits_between_replicas():
    data = list(range(8))
    shares = [ResumableSampler(data, num_replicas=2, rank=r, seed=0) for r in range(2)]
    whole = ResumableSampler(data, num_replicas=1, rank=0, seed=0)
    a, b = (list(s) for s in shares)
    assert sorted(a + b) == data
    assert a == list(whole)[0::2] and b == list(whole)[1::2]
