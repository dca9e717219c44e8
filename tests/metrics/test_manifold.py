"""Precision/recall and density/coverage on synthetic manifolds, and parity with torch-fidelity's PR."""

from __future__ import annotations

import pytest
import torch

from ganforge.metrics import density_coverage, precision_recall
from ganforge.metrics.neighbors import knn_sq_radii, manifold_metrics


def blobs(n: int, centers: torch.Tensor, seed: int, scale: float = 0.05) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(len(centers), (n,), generator=g)
    return centers[idx] + scale * torch.randn(n, centers.shape[1], generator=g)


CENTERS = torch.eye(10, 8) * 5  # 10 well-separated modes (two rows are zero: still distinct from the rest)


def test_same_distribution_scores_high_everywhere():
    real, fake = blobs(1000, CENTERS, 0), blobs(1000, CENTERS, 1)
    p, r = precision_recall(real, fake)
    d, c = density_coverage(real, fake)
    assert p > 0.85 and r > 0.85
    assert 0.8 < d < 1.2  # E[density] = 1 for identical distributions (Naeem et al.)
    assert c > 0.9  # ~1 - 2^-5 for k = 5 and equal sample counts


def test_mode_dropping_lowers_recall_and_coverage_but_not_precision():
    real = blobs(1000, CENTERS, 0)
    fake = blobs(1000, CENTERS[:4], 1)  # the generator covers 4 of 10 modes (rows 0-3 are distinct)
    p, r = precision_recall(real, fake)
    d, c = density_coverage(real, fake)
    assert p > 0.85 and 0.7 < d < 1.3  # fidelity measures are untouched by dropped modes
    assert 0.3 < r < 0.5
    assert 0.3 < c < 0.5


def test_off_manifold_samples_lower_precision_and_density():
    real = blobs(1000, CENTERS, 0)
    fake = blobs(1000, CENTERS + 3.0, 1)  # all generated samples far from the real modes
    p, r = precision_recall(real, fake)
    d, c = density_coverage(real, fake)
    assert p == 0.0 and r == 0.0 and d == 0.0 and c == 0.0


def test_density_resists_a_real_outlier_that_fools_precision():
    # Naeem et al. Sec. 3: one real outlier has a huge k-NN ball; every fake near it becomes "precise", while
    # density only gains those fakes' single-ball memberships divided by k
    main = blobs(999, CENTERS[:1], 0)
    clean_real = torch.cat([main, blobs(1, CENTERS[:1], 9)])
    outlier_real = torch.cat([main, torch.full((1, 8), 3.0)])
    g = torch.Generator().manual_seed(2)
    fake = torch.cat([blobs(900, CENTERS[:1], 1), 3.0 + 0.1 * torch.randn(100, 8, generator=g)])
    p_clean, _ = precision_recall(clean_real, fake)
    p_out, _ = precision_recall(outlier_real, fake)
    d_clean, _ = density_coverage(clean_real, fake)
    d_out, _ = density_coverage(outlier_real, fake)
    assert p_out - p_clean > 0.08  # the 10% of fakes near the outlier now count as precise
    assert d_out - d_clean < 0.03  # but they sit in one ball: 100 / (5 * 1000) = 0.02


def test_radii_exclude_the_sample_itself():
    x = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    radii = knn_sq_radii(x, (1, 2))
    assert radii[1].tolist() == pytest.approx([1.0, 1.0, 4.0, 16.0])
    assert radii[2].tolist() == pytest.approx([9.0, 4.0, 9.0, 36.0])


def test_chunking_does_not_change_results():
    real, fake = blobs(700, CENTERS, 3, 0.5), blobs(650, CENTERS, 4, 0.6)
    full = manifold_metrics(real, fake, chunk=4096)
    small = manifold_metrics(real, fake, chunk=97)
    assert full == pytest.approx(small)


def test_cached_real_radii_give_identical_results():
    real, fake = blobs(500, CENTERS, 5, 0.5), blobs(500, CENTERS, 6, 0.5)
    radii = knn_sq_radii(real, (3, 5))
    assert manifold_metrics(real, fake, real_radii=radii) == manifold_metrics(real, fake)


def test_precision_recall_parity_with_torch_fidelity():
    tf_prc = pytest.importorskip("torch_fidelity.metric_prc")
    g = torch.Generator().manual_seed(7)
    real = torch.relu(torch.randn(800, 64, generator=g))
    fake = torch.relu(torch.randn(700, 64, generator=g) * 1.2 + 0.1)
    ref = tf_prc.prc_features_to_metric(fake, real, prc_neighborhood=3, prc_batch_size=10000,
                                        save_cpu_ram=False, verbose=False)
    p, r = precision_recall(real, fake)
    assert p == pytest.approx(ref[tf_prc.KEY_METRIC_PRECISION], abs=2 / 700)
    assert r == pytest.approx(ref[tf_prc.KEY_METRIC_RECALL], abs=2 / 800)
