"""Stacked-MNIST mode counting and reverse KL on hand-built digit predictions (R3GAN App. A)."""

from __future__ import annotations

import math

import pytest
import torch

from ganforge.metrics import mode_histogram, mode_ids, mode_metrics, modes_covered, reverse_kl_to_uniform
from ganforge.metrics.modes import uniform_kl_floor


def all_modes(repeats: int) -> torch.Tensor:
    d = torch.arange(1000).repeat(repeats)
    return torch.stack([d // 100, d // 10 % 10, d % 10], 1)


def test_mode_ids_put_the_first_channel_first():
    digits = torch.tensor([[1, 2, 3], [0, 0, 7], [9, 9, 9]])
    assert mode_ids(digits).tolist() == [123, 7, 999]
    assert mode_ids(torch.tensor([[4], [2]])).tolist() == [4, 2]


def test_uniform_histogram_covers_all_modes_with_zero_kl():
    out = mode_metrics(all_modes(3))
    assert out["modes"] == 1000 and out["modes_total"] == 1000
    assert out["modes_kl"] == pytest.approx(0.0, abs=1e-12)


def test_full_collapse_has_one_mode_and_kl_log_1000():
    out = mode_metrics(torch.tensor([[4, 2, 0]] * 500))
    assert out["modes"] == 1
    assert out["modes_kl"] == pytest.approx(math.log(1000))


def test_half_the_modes_gives_kl_log_2():
    hist = torch.zeros(1000, dtype=torch.long)
    hist[:500] = 7
    assert modes_covered(hist) == 500
    assert reverse_kl_to_uniform(hist) == pytest.approx(math.log(2))


def test_hand_built_histogram_matches_the_formula():
    hist = torch.zeros(1000, dtype=torch.long)
    hist[[0, 1, 2]] = torch.tensor([1, 1, 2])
    p = torch.tensor([0.25, 0.25, 0.5], dtype=torch.float64)
    assert reverse_kl_to_uniform(hist) == pytest.approx(float((p * (p * 1000).log()).sum()))
    assert modes_covered(hist) == 3 and modes_covered(hist, min_count=2) == 1


def test_histogram_counts_and_empty_error():
    assert mode_histogram(torch.tensor([3, 3, 0]), 5).tolist() == [1, 0, 0, 2, 0]
    with pytest.raises(ValueError):
        reverse_kl_to_uniform(torch.zeros(10, dtype=torch.long))


def test_finite_sample_floor_of_a_perfect_generator():
    # a perfect (uniform) generator's empirical KL is ~ (K - 1) / (2 N), the floor any reported KL sits on
    g = torch.Generator().manual_seed(0)
    kls = [reverse_kl_to_uniform(mode_histogram(torch.randint(1000, (20_000,), generator=g), 1000))
           for _ in range(5)]
    assert sum(kls) / 5 == pytest.approx(uniform_kl_floor(20_000), rel=0.1)


def test_kl_splits_into_channel_imbalance_and_channel_dependence():
    # every digit equally often in each channel, but all three channels always equal: KL is all total correlation
    copied = torch.arange(10).repeat(50)[:, None].expand(-1, 3)
    out = mode_metrics(copied)
    assert out["modes"] == 10 and out["modes_kl_marginal"] == pytest.approx(0.0, abs=1e-12)
    assert out["modes_tc"] == pytest.approx(math.log(100)) and out["modes_kl"] == pytest.approx(math.log(100))
    # independent channels, the first one stuck on one digit: KL is all marginal imbalance
    d = all_modes(2)
    d[:, 0] = 4
    out = mode_metrics(d)
    assert out["modes_kl_marginal"] == pytest.approx(math.log(10)) and out["modes_tc"] == pytest.approx(0, abs=1e-9)
    assert out["modes_kl"] == pytest.approx(out["modes_kl_marginal"] + out["modes_tc"])


def test_one_channel_digits_have_no_total_correlation():
    out = mode_metrics(torch.tensor([[1], [1], [2], [7]]))
    assert out["modes_tc"] == pytest.approx(0.0, abs=1e-12)
    assert out["modes_kl_marginal"] == pytest.approx(out["modes_kl"])
