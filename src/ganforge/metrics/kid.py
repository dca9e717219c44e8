"""Kernel Inception Distance (Binkowski et al. 2018): unbiased MMD^2 with a cubic polynomial kernel.

k(x, y) = (x.y / d + 1)^3. Over `subsets` random subsets of m samples from each set (without replacement):
MMD^2_u = sum_{i != j} k(x_i, x_j) / (m(m-1)) + sum_{i != j} k(y_i, y_j) / (m(m-1)) - 2 sum_{i,j} k(x_i, y_j) / m^2
(Binkowski et al. Eq. 2 / Gretton et al. 2012 Lemma 6); KID is the mean over subsets, reported with the std.
Subsets are drawn exactly as torch-fidelity draws them (numpy RandomState(seed), generated set first, then
real), so for the same seed the values agree with torch-fidelity. Kernel matrices are computed in the
features' dtype (float32 features: float32 matrix products, as torch-fidelity) and summed in float64.
"""

from __future__ import annotations

import numpy as np
import torch

from ganforge.metrics.fid import ArrayLike
from ganforge.metrics.threads import limited_threads


def _tensor(x: ArrayLike) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    return t.detach().cpu()


def polynomial_mmd2(x: torch.Tensor, y: torch.Tensor, degree: int = 3, gamma: float | None = None,
                    coef0: float = 1.0) -> float:
    """Unbiased MMD^2 of two equal-size samples under the polynomial kernel (Binkowski et al. Eq. 2)."""
    m = x.shape[0]
    if y.shape[0] != m or m < 2:
        raise ValueError(f"need two samples of equal size >= 2, got {x.shape[0]} and {y.shape[0]}")
    g = 1.0 / x.shape[1] if gamma is None else gamma

    def kernel_sum(a: torch.Tensor, b: torch.Tensor, drop_diagonal: bool = False) -> float:
        k = (a @ b.T).mul_(g).add_(coef0).pow_(degree)
        total = float(k.sum(dtype=torch.float64))
        return total - float(k.diagonal().sum(dtype=torch.float64)) if drop_diagonal else total

    def off_diagonal_sum(a: torch.Tensor, blocks: int = 4) -> float:
        # k(a, a) is symmetric: sum the upper block triangle once and the blocks above the diagonal twice
        parts = a.tensor_split(blocks)
        return sum(kernel_sum(p, p, True) + 2 * sum(kernel_sum(p, q) for q in parts[i + 1:])
                   for i, p in enumerate(parts))

    k_xx = off_diagonal_sum(x)
    k_yy = off_diagonal_sum(y)
    k_xy = kernel_sum(x, y)
    return (k_xx + k_yy) / (m * (m - 1)) - 2 * k_xy / (m * m)


def kid_from_features(real: ArrayLike, fake: ArrayLike, *, subsets: int = 100, subset_size: int = 1000,
                      seed: int = 2020, degree: int = 3, gamma: float | None = None,
                      coef0: float = 1.0, threads: int | None = 1) -> tuple[float, float]:
    """(mean, std) of the unbiased MMD^2 over subsets; subset_size is capped at the smaller set size.

    `threads` bounds PyTorch's threads for the subset loop (see ganforge.metrics.threads; None: unchanged).
    """
    r, f = _tensor(real), _tensor(fake)
    if r.ndim != 2 or f.ndim != 2 or r.shape[1] != f.shape[1]:
        raise ValueError(f"feature arrays must be [N, D] with the same D, got {tuple(r.shape)}, {tuple(f.shape)}")
    if not (r.is_floating_point() and f.is_floating_point()):
        raise TypeError("features must be floating point")
    dtype = torch.promote_types(r.dtype, f.dtype)
    r, f = r.to(dtype), f.to(dtype)
    m = min(subset_size, len(r), len(f))
    rng = np.random.RandomState(seed)
    values = np.empty(subsets)
    with limited_threads(threads):
        for i in range(subsets):
            fi = torch.from_numpy(rng.choice(len(f), m, replace=False))
            ri = torch.from_numpy(rng.choice(len(r), m, replace=False))
            values[i] = polynomial_mmd2(f[fi], r[ri], degree, gamma, coef0)
    return float(values.mean()), float(values.std())
