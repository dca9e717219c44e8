"""Stacked-MNIST mode coverage and reverse KL (R3GAN Appendix A, Tables 4 and 6; protocol of PacGAN/VEEGAN).

A pretrained MNIST classifier labels each colour channel of a generated image; the three digits give one of
10^3 = 1000 modes (mode = 100 d1 + 10 d2 + d3 for channels R, G, B, the Stacked-MNIST labelling). Reported:
  modes    = number of modes with at least one generated sample (of 1000),
  modes_kl = D_KL(p_G || U) = sum_m p_G(m) log(p_G(m) / (1/1000)), natural log, empty modes contributing 0,
             the "reverse KL between the generated mode histogram and the true uniform distribution".
The reverse KL splits exactly into two parts that call for different fixes (log 1000 - H(p) = sum_c (log 10 - H(p_c))
+ (sum_c H(p_c) - H(p))):
  modes_kl_marginal = sum over channels of D_KL(p_c || U_10): each channel's own digit imbalance,
  modes_tc          = the total correlation of the three digits: how far the channels are from independent.
For 1-channel digits the same definitions hold with 10 modes (and modes_tc = 0).
"""

from __future__ import annotations

import math

import torch


def mode_ids(digits: torch.Tensor) -> torch.Tensor:
    """[N, C] per-channel digits (0-9) -> [N] mode index, first channel most significant."""
    if digits.ndim != 2:
        raise ValueError(f"digits must be [N, channels], got {tuple(digits.shape)}")
    weights = 10 ** torch.arange(digits.shape[1] - 1, -1, -1, device=digits.device)
    return (digits.long() * weights).sum(1)


def mode_histogram(modes: torch.Tensor, num_modes: int) -> torch.Tensor:
    """Counts per mode, int64 [num_modes]."""
    return torch.bincount(modes.long().flatten().cpu(), minlength=num_modes)[:num_modes]


def modes_covered(histogram: torch.Tensor, min_count: int = 1) -> int:
    """Number of modes with at least `min_count` samples (R3GAN / PacGAN use 1)."""
    return int((histogram >= min_count).sum())


def reverse_kl_to_uniform(histogram: torch.Tensor) -> float:
    """D_KL(p_G || uniform) over len(histogram) modes, natural log (R3GAN App. A)."""
    counts = histogram.double()
    total = float(counts.sum())
    if total <= 0:
        raise ValueError("the mode histogram is empty")
    p = counts[counts > 0] / total
    return float((p * (p * len(histogram)).log()).sum())


def marginal_kl_to_uniform(digits: torch.Tensor) -> float:
    """Sum over channels of D_KL(p_c || uniform over 10 digits): the channels' own imbalance (the joint KL minus
    the total correlation)."""
    return sum(reverse_kl_to_uniform(mode_histogram(digits[:, c], 10)) for c in range(digits.shape[1]))


def mode_metrics(digits: torch.Tensor, min_count: int = 1) -> dict[str, float]:
    """{"modes": covered modes, "modes_kl": reverse KL to uniform, "modes_kl_marginal" + "modes_tc": its split into
    per-channel imbalance and channel dependence, "modes_total": 10^channels}."""
    num_modes = 10 ** digits.shape[1]
    hist = mode_histogram(mode_ids(digits), num_modes)
    kl, marginal = reverse_kl_to_uniform(hist), marginal_kl_to_uniform(digits)
    return {"modes": float(modes_covered(hist, min_count)), "modes_kl": kl, "modes_kl_marginal": marginal,
            "modes_tc": max(kl - marginal, 0.0), "modes_total": float(num_modes)}


def uniform_kl_floor(num_samples: int, num_modes: int = 1000) -> float:
    """Expected KL of a perfect generator's finite-sample histogram, ~ (K - 1) / (2 N): a reference point."""
    return (num_modes - 1) / (2 * num_samples) if num_samples > 0 else math.inf
