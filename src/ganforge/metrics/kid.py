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
from ganforge.utils.threads import limited_threads


def _tensor(x: ArrayLike) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    return t.detach().cpu()


class _PolyKernel:
    """Sums of k(a, b) = (gamma a.b + coef0)^degree, accumulated in float64."""

    def __init__(self, dim: int, degree: int, gamma: float | None, coef0: float) -> None:
        self.g, self.degree, self.coef0 = (1.0 / dim if gamma is None else gamma), degree, coef0

    def total(self, a: torch.Tensor, b: torch.Tensor, drop_diagonal: bool = False) -> float:
        k = (a @ b.T).mul_(self.g).add_(self.coef0).pow_(self.degree)
        out = float(k.sum(dtype=torch.float64))
        return out - float(k.diagonal().sum(dtype=torch.float64)) if drop_diagonal else out

    def off_diagonal(self, a: torch.Tensor, blocks: int = 4) -> float:
        """sum_{i != j} k(a_i, a_j): the symmetric matrix's upper block triangle, off-diagonal blocks twice."""
        parts = a.tensor_split(blocks)
        return sum(self.total(p, p, True) + 2 * sum(self.total(p, q) for q in parts[i + 1:])
                   for i, p in enumerate(parts))


def polynomial_mmd2(x: torch.Tensor, y: torch.Tensor, degree: int = 3, gamma: float | None = None,
                    coef0: float = 1.0, y_term: float | None = None) -> float:
    """Unbiased MMD^2 of two equal-size samples under the polynomial kernel (Binkowski et al. Eq. 2).

    y_term, if given, is the precomputed sum_{i != j} k(y_i, y_j) (cached for a fixed reference subset).
    """
    m = x.shape[0]
    if y.shape[0] != m or m < 2:
        raise ValueError(f"need two samples of equal size >= 2, got {x.shape[0]} and {y.shape[0]}")
    kern = _PolyKernel(x.shape[1], degree, gamma, coef0)
    k_yy = kern.off_diagonal(y) if y_term is None else y_term
    return (kern.off_diagonal(x) + k_yy) / (m * (m - 1)) - 2 * kern.total(x, y) / (m * m)


def kid_from_features(real: ArrayLike, fake: ArrayLike, *, subsets: int = 100, subset_size: int = 1000,
                      seed: int = 2020, degree: int = 3, gamma: float | None = None,
                      coef0: float = 1.0, threads: int | None = None,
                      real_terms: dict | None = None) -> tuple[float, float]:
    """(mean, std) of the unbiased MMD^2 over subsets; subset_size is capped at the smaller set size.

    `threads` bounds PyTorch's threads for the subset loop (None: torch's setting; 1 helps on a loaded machine).
    `real_terms`: a dict kept with the reference features; the real-real kernel sums of each subset are
    stored there, so later calls with the same seed and sizes (same subsets) skip a third of the work.
    """
    r, f = _tensor(real), _tensor(fake)
    if r.ndim != 2 or f.ndim != 2 or r.shape[1] != f.shape[1]:
        raise ValueError(f"feature arrays must be [N, D] with the same D, got {tuple(r.shape)}, {tuple(f.shape)}")
    if not (r.is_floating_point() and f.is_floating_point()):
        raise TypeError("features must be floating point")
    dtype = torch.promote_types(r.dtype, f.dtype)
    r, f = r.to(dtype), f.to(dtype)
    m = min(subset_size, len(r), len(f))
    key = (seed, subsets, m, len(f), len(r), degree, gamma, coef0, str(dtype))
    cached = None if real_terms is None else real_terms.get(key)
    terms = np.empty(subsets)
    rng = np.random.RandomState(seed)
    values = np.empty(subsets)
    kern = _PolyKernel(r.shape[1], degree, gamma, coef0)
    with limited_threads(threads):
        for i in range(subsets):
            fi = torch.from_numpy(rng.choice(len(f), m, replace=False))
            ri = torch.from_numpy(rng.choice(len(r), m, replace=False))
            terms[i] = kern.off_diagonal(r[ri]) if cached is None else cached[i]
            values[i] = polynomial_mmd2(f[fi], r[ri], degree, gamma, coef0, y_term=float(terms[i]))
    if real_terms is not None:
        real_terms[key] = terms
    return float(values.mean()), float(values.std())
