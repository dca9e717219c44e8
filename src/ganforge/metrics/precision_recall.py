"""Improved precision and recall (Kynkäänniemi et al. 2019), k = 3 by default.

Convention (as in the paper, StyleGAN and torch-fidelity): precision is the fraction of GENERATED samples
inside the real manifold (the union of k-NN balls around real samples); recall is the fraction of REAL samples
inside the generated manifold. A sample on a ball's boundary counts as inside (<=).
"""

from __future__ import annotations

import torch

from ganforge.metrics.fid import ArrayLike
from ganforge.metrics.neighbors import manifold_metrics


def precision_recall(real: ArrayLike, fake: ArrayLike, k: int = 3,
                     real_radii: dict[int, torch.Tensor] | None = None) -> tuple[float, float]:
    """(precision, recall) of fake against real features."""
    out = manifold_metrics(real, fake, pr_k=k, dc_k=None, real_radii=real_radii)
    return out["precision"], out["recall"]
