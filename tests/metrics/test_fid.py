"""FID: zero on identical sets, the closed form for Gaussians, torch-fidelity parity, npz statistics files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import linalg

from ganforge.metrics import GaussianStats, fid_from_features, fid_from_stats, frechet_distance
from ganforge.metrics.cache import load_stats_npz, save_stats_npz


def random_spd(d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    return a @ a.T / d + 0.1 * torch.eye(d, dtype=torch.float64)


def closed_form(mu1, s1, mu2, s2) -> float:
    """Reference with scipy's sqrtm (Dowson & Landau): |mu1-mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^1/2)."""
    covmean = linalg.sqrtm(s1.numpy() @ s2.numpy()).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1.numpy() + s2.numpy() - 2 * covmean))


def test_fid_of_a_set_with_itself_is_zero():
    x = torch.randn(500, 64, generator=torch.Generator().manual_seed(0))
    assert fid_from_features(x, x) == pytest.approx(0.0, abs=1e-8)
    assert fid_from_features(x, x) >= 0.0


def test_fid_matches_closed_form_for_known_gaussians():
    d = 32
    mu1 = torch.linspace(-1, 1, d, dtype=torch.float64)
    mu2 = torch.zeros(d, dtype=torch.float64)
    s1, s2 = random_spd(d, 1), random_spd(d, 2)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(closed_form(mu1, s1, mu2, s2), rel=1e-9)
    # commuting (diagonal) covariances have a textbook answer: sum (sqrt(a) - sqrt(b))^2 + |dmu|^2
    a, b = torch.rand(d, dtype=torch.float64) + 0.5, torch.rand(d, dtype=torch.float64) + 0.5
    expected = float(((mu1 - mu2) ** 2).sum() + ((a.sqrt() - b.sqrt()) ** 2).sum())
    assert frechet_distance(mu1, torch.diag(a), mu2, torch.diag(b)) == pytest.approx(expected, rel=1e-10)


def test_fid_from_samples_converges_to_the_population_value():
    d, n = 8, 200_000
    g = torch.Generator().manual_seed(3)
    s1, s2 = random_spd(d, 4), random_spd(d, 5)
    mu2 = torch.full((d,), 0.5, dtype=torch.float64)
    x = torch.randn(n, d, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(s1).T
    y = torch.randn(n, d, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(s2).T + mu2
    truth = closed_form(torch.zeros(d, dtype=torch.float64), s1, mu2, s2)
    assert fid_from_features(x, y) == pytest.approx(truth, rel=0.02)


def test_singular_covariances_use_the_eigen_path():
    # fewer samples than dimensions: rank-deficient covariance, Cholesky fails, eigh factor is used
    g = torch.Generator().manual_seed(6)
    x = torch.randn(20, 50, generator=g, dtype=torch.float64)
    y = torch.randn(20, 50, generator=g, dtype=torch.float64) + 0.3
    a, b = GaussianStats.from_features(x), GaussianStats.from_features(y)
    assert not bool(torch.linalg.cholesky_ex(a.sigma).info == 0)
    assert fid_from_stats(a, b) == pytest.approx(closed_form(a.mu, a.sigma, b.mu, b.sigma), rel=1e-6)
    assert fid_from_stats(a, a) == pytest.approx(0.0, abs=1e-8)


def test_fid_is_symmetric_and_float64():
    g = torch.Generator().manual_seed(7)
    x = torch.randn(300, 16, generator=g)  # float32 in, float64 math
    y = torch.randn(300, 16, generator=g) * 1.3
    stats = GaussianStats.from_features(x)
    assert stats.sigma.dtype == torch.float64
    assert fid_from_features(x, y) == pytest.approx(fid_from_features(y, x), rel=1e-9)


def test_invalid_inputs_raise():
    x = torch.randn(50, 4)
    with pytest.raises(ValueError, match="NaN"):
        fid_from_features(x, torch.full((50, 4), float("nan")))
    not_psd = -torch.eye(4, dtype=torch.float64)
    with pytest.raises(ValueError, match="round-off"):
        frechet_distance(torch.zeros(4), not_psd, torch.zeros(4), torch.eye(4))
    with pytest.raises(ValueError, match="feature sizes"):
        fid_from_features(x, torch.randn(50, 5))


def test_parity_with_torch_fidelity_on_features():
    tf_fid = pytest.importorskip("torch_fidelity.metric_fid")
    g = torch.Generator().manual_seed(8)
    d = 128
    mix = torch.randn(d, d, generator=g, dtype=torch.float64) / d ** 0.5
    real = torch.relu(torch.randn(2000, d, generator=g, dtype=torch.float64) @ mix)  # Inception-like >= 0
    fake = torch.relu(torch.randn(2000, d, generator=g, dtype=torch.float64) @ (1.2 * mix) + 0.05)
    ref = tf_fid.fid_statistics_to_metric(tf_fid.fid_features_to_statistics(real),
                                          tf_fid.fid_features_to_statistics(fake), False)
    ours = fid_from_features(real, fake)
    assert ours == pytest.approx(ref[tf_fid.KEY_METRIC_FID], rel=1e-6)


def test_npz_statistics_roundtrip_in_pytorch_fid_layout(tmp_path):
    x = torch.randn(100, 10, generator=torch.Generator().manual_seed(9))
    stats = GaussianStats.from_features(x)
    path = tmp_path / "ref.npz"
    save_stats_npz(path, stats)
    with np.load(path, allow_pickle=False) as f:  # what pytorch-fid / clean-fid read
        assert set(f.files) == {"mu", "sigma"}
        assert f["mu"].shape == (10,) and f["sigma"].shape == (10, 10) and f["sigma"].dtype == np.float64
    # a file written the way pytorch-fid writes it loads too
    other = tmp_path / "pytorch_fid.npz"
    np.savez_compressed(other, mu=x.numpy().mean(0), sigma=np.cov(x.numpy(), rowvar=False))
    loaded = load_stats_npz(other)
    assert fid_from_stats(load_stats_npz(path), loaded) == pytest.approx(0.0, abs=1e-6)
