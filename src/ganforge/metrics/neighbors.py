"""k-nearest-neighbour manifolds shared by precision/recall and density/coverage: one pass per distance matrix.

Distances are Euclidean in feature space, computed in float32 blocks as |a|^2 + |b|^2 - 2 a.b (the same
formula torch.cdist uses for large inputs) and compared squared, so no N x M matrix is ever held at once.
The k-NN radius of a sample excludes the sample itself (k-th smallest distance among the others).
"""

from __future__ import annotations

import numpy as np
import torch

from ganforge.metrics.fid import ArrayLike

CHUNK = 2048  # rows per block: 2048 x 10k float32 = 80 MB


def as_features(x: ArrayLike) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    if t.ndim != 2:
        raise ValueError(f"features must be [N, D], got {tuple(t.shape)}")
    return t.detach().cpu().float().contiguous()


def _sq_norms(x: torch.Tensor) -> torch.Tensor:
    return (x * x).sum(1)


def sq_distances(a: torch.Tensor, b: torch.Tensor, b_norms: torch.Tensor | None = None) -> torch.Tensor:
    """Squared Euclidean distances [len(a), len(b)], clamped at 0 against round-off."""
    b_norms = _sq_norms(b) if b_norms is None else b_norms
    d = torch.addmm(b_norms.unsqueeze(0), a, b.T, beta=1.0, alpha=-2.0)
    return d.add_(_sq_norms(a).unsqueeze(1)).clamp_min_(0.0)


def knn_sq_radii(x: ArrayLike, ks: tuple[int, ...], chunk: int = CHUNK) -> dict[int, torch.Tensor]:
    """Squared distance of every sample to its k-th nearest other sample, for each k in ks."""
    x = as_features(x)
    kmax = max(ks)
    if len(x) <= kmax:
        raise ValueError(f"need more than k = {kmax} samples for k-NN radii, got {len(x)}")
    norms = _sq_norms(x)
    parts = []
    for start in range(0, len(x), chunk):
        d = sq_distances(x[start:start + chunk], x, norms)
        rows = torch.arange(d.shape[0])
        d[rows, rows + start] = -1.0  # the sample itself sorts first and is skipped below
        parts.append(d.topk(kmax + 1, dim=1, largest=False).values[:, 1:])
    nearest = torch.cat(parts)
    return {k: nearest[:, k - 1].contiguous() for k in ks}


def manifold_metrics(real: ArrayLike, fake: ArrayLike, *, pr_k: int | None = 3, dc_k: int | None = 5,
                     real_radii: dict[int, torch.Tensor] | None = None,
                     chunk: int = CHUNK) -> dict[str, float]:
    """Precision/recall (pr_k) and density/coverage (dc_k) from one real-fake distance pass.

    precision = mean_j 1[exists i: d(f_j, r_i) <= r_k(r_i)]   (Kynkäänniemi et al. 2019, Eq. 1-2)
    recall    = mean_i 1[exists j: d(r_i, f_j) <= r_k(f_j)]
    density   = 1/(k M) sum_j sum_i 1[d(f_j, r_i) < r_k(r_i)]   (Naeem et al. 2020, Eq. 3)
    coverage  = 1/N sum_i 1[exists j: d(f_j, r_i) < r_k(r_i)]   (Naeem et al. 2020, Eq. 4)
    `real_radii` (from knn_sq_radii, e.g. cached for a reference set) skips the real-real pass.
    """
    r, f = as_features(real), as_features(fake)
    if r.shape[1] != f.shape[1]:
        raise ValueError(f"feature sizes differ: {r.shape[1]} vs {f.shape[1]}")
    ks = tuple(k for k in (pr_k, dc_k) if k is not None)
    if not ks:
        return {}
    have = real_radii or {}
    missing = tuple(k for k in ks if k not in have)
    radii = {**have, **(knn_sq_radii(r, missing, chunk) if missing else {})}
    fake_radius = knn_sq_radii(f, (pr_k,), chunk)[pr_k] if pr_k is not None else None

    r_norms = _sq_norms(r)
    precise = 0
    in_balls = 0
    recalled = torch.zeros(len(r), dtype=torch.bool)
    nearest_fake = torch.full((len(r),), float("inf"))
    for start in range(0, len(f), chunk):
        d = sq_distances(f[start:start + chunk], r, r_norms)  # [fake block, real]
        if pr_k is not None:
            precise += int((d <= radii[pr_k].unsqueeze(0)).any(1).sum())
            recalled |= (d <= fake_radius[start:start + chunk].unsqueeze(1)).any(0)
        if dc_k is not None:
            in_balls += int((d < radii[dc_k].unsqueeze(0)).sum())
            nearest_fake = torch.minimum(nearest_fake, d.min(0).values)
    out: dict[str, float] = {}
    if pr_k is not None:
        out["precision"] = precise / len(f)
        out["recall"] = float(recalled.float().mean())
    if dc_k is not None:
        out["density"] = in_balls / (dc_k * len(f))
        out["coverage"] = float((nearest_fake < radii[dc_k]).float().mean())
    return out
