"""Density and coverage (Naeem et al. 2020), k = 5 by default (the paper's recommended value).

Both use only k-NN balls around REAL samples, so unlike precision/recall they are robust to generated
outliers: density counts how many real balls each generated sample falls in (divided by k; ~1 when the two
distributions match, can exceed 1), coverage is the fraction of real balls containing at least one generated
sample. Ball membership is strict (<), as in the authors' code.
"""

from __future__ import annotations

import torch

from ganforge.metrics.fid import ArrayLike
from ganforge.metrics.neighbors import manifold_metrics


def density_coverage(real: ArrayLike, fake: ArrayLike, k: int = 5,
                     real_radii: dict[int, torch.Tensor] | None = None) -> tuple[float, float]:
    """(density, coverage) of fake against real features."""
    out = manifold_metrics(real, fake, pr_k=None, dc_k=k, real_radii=real_radii)
    return out["density"], out["coverage"]
