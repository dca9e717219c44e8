import math
from itertools import pairwise

import pytest
import torch

from ganforge.training.ema import update_ema
from ganforge.training.schedules import Cosine, ema_beta


def test_cosine_endpoints_and_midpoint():
    s = Cosine(start=2e-4, end=5e-5, burnin_kimg=20)
    assert s(0) == pytest.approx(2e-4)
    assert s(10_000) == pytest.approx((2e-4 + 5e-5) / 2)
    assert s(20_000) == pytest.approx(5e-5)
    assert s(1e9) == pytest.approx(5e-5)
    values = [s(n) for n in range(0, 20_001, 1000)]
    assert all(a >= b for a, b in pairwise(values))  # monotone decay
    assert Cosine(0.0, 0.5, 0)(0) == 0.5


def test_ema_halflife_arithmetic():
    # after `halflife` images the initial weights' share has halved, whatever the batch size
    for batch in (8, 32, 512):
        beta = ema_beta(batch, halflife_nimg=10_000)
        assert beta ** (10_000 / batch) == pytest.approx(0.5)
    assert ema_beta(32, 0) == 0.0


def test_update_ema_halflife_in_practice():
    ema, live = torch.nn.Linear(1, 1, bias=False), torch.nn.Linear(1, 1, bias=False)
    ema.weight.data.fill_(0.0)
    live.weight.data.fill_(1.0)
    beta = ema_beta(100, 1000)
    for _ in range(10):  # 10 steps x 100 images = one half-life
        update_ema(ema, live, beta)
    assert ema.weight.item() == pytest.approx(0.5)
    update_ema(ema, live, 0.0)
    assert ema.weight.item() == 1.0
    assert math.isclose(ema_beta(1, 1), 0.5)
