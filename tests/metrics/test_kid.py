"""KID: unbiased (mean ~0) on equal distributions, positive on different ones, torch-fidelity parity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganforge.metrics import kid_from_features, polynomial_mmd2


def test_kid_is_unbiased_on_equal_distributions():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4000, 16, generator=g, dtype=torch.float64)
    y = torch.randn(4000, 16, generator=g, dtype=torch.float64)
    mean, std = kid_from_features(x, y, subsets=200, subset_size=100, seed=1)
    # unbiased: centred on 0, so |mean| is within a few standard errors of the subset average
    assert abs(mean) < 4 * std / np.sqrt(200)
    # the biased V-statistic on the same subsets would be clearly positive: the diagonal terms it keeps
    m = 100
    xs, ys = x[:m], y[:m]
    k = lambda a, b: (a @ b.T / 16 + 1) ** 3  # noqa: E731
    biased = float(k(xs, xs).mean() + k(ys, ys).mean() - 2 * k(xs, ys).mean())
    assert biased > 10 * abs(mean) and biased > 0


def test_kid_detects_a_shift_and_grows_with_it():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(1000, 8, generator=g, dtype=torch.float64)
    y = torch.randn(1000, 8, generator=g, dtype=torch.float64)
    small, _ = kid_from_features(x, y + 0.2, subsets=20, subset_size=300)
    large, std = kid_from_features(x, y + 0.6, subsets=20, subset_size=300)
    assert large > small > 0 and large > 10 * std


def test_mmd2_matches_direct_double_sum():
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(12, 5, generator=g, dtype=torch.float64), torch.randn(12, 5, generator=g, dtype=torch.float64)
    k = lambda a, b: (float(a @ b) / 5 + 1) ** 3  # noqa: E731
    m = 12
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / m ** 2
    assert polynomial_mmd2(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-12)


def test_subset_size_is_capped_at_the_sample_count():
    x = torch.randn(50, 4, generator=torch.Generator().manual_seed(4))
    mean, std = kid_from_features(x, x + 1.0, subsets=3, subset_size=1000)
    assert np.isfinite(mean) and mean > 0 and std >= 0


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_parity_with_torch_fidelity_on_features(dtype):
    tf_kid = pytest.importorskip("torch_fidelity.metric_kid")
    g = torch.Generator().manual_seed(5)
    real = torch.relu(torch.randn(1500, 256, generator=g, dtype=torch.float64)).to(dtype)
    fake = torch.relu(torch.randn(1200, 256, generator=g, dtype=torch.float64) * 1.1 + 0.05).to(dtype)
    ref = tf_kid.kid_features_to_metric(fake, real, kid_subsets=10, kid_subset_size=500, rng_seed=2020,
                                        verbose=False, kid_kernel="poly", kid_kernel_poly_degree=3,
                                        kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1)
    mean, std = kid_from_features(real, fake, subsets=10, subset_size=500, seed=2020)
    # float64 features: the same arithmetic; float32: both use float32 products (ours sums in float64)
    rel = 1e-6 if dtype == torch.float64 else 1e-3
    assert mean == pytest.approx(ref[tf_kid.KEY_METRIC_KID_MEAN], rel=rel)
    assert std == pytest.approx(ref[tf_kid.KEY_METRIC_KID_STD], rel=max(rel, 1e-6) * 10)


def test_cached_real_terms_reproduce_the_full_computation():
    g = torch.Generator().manual_seed(6)
    real, fake = torch.randn(400, 32, generator=g), torch.randn(300, 32, generator=g) + 0.1
    terms: dict = {}
    first = kid_from_features(real, fake, subsets=5, subset_size=100, real_terms=terms)
    assert len(terms) == 1 and len(next(iter(terms.values()))) == 5
    again = kid_from_features(real, fake, subsets=5, subset_size=100, real_terms=terms)
    assert again == pytest.approx(first, rel=1e-12)
    assert kid_from_features(real, fake, subsets=5, subset_size=100) == pytest.approx(first, rel=1e-12)
    # a different seed draws other subsets: a new entry, not a stale one
    kid_from_features(real, fake, subsets=5, subset_size=100, seed=1, real_terms=terms)
    assert len(terms) == 2
