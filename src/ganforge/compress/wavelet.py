"""Orthonormal 2-D Haar wavelet transform and the high-frequency wavelet loss used by NICKEL (Eq. 2).

Band names follow the filter order (rows/height first, columns/width second): LH = low-pass along height,
high-pass along width (responds to vertical edges), HL = high-pass along height, low-pass along width
(horizontal edges), HH = high-pass in both (diagonal detail). The loss is the L1 distance of the LH, HL and HH
bands summed over levels, recursing on LL as in multi-level wavelet distillation (Zhang et al. 2022, [62]).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

BANDS = ("LL", "LH", "HL", "HH")
HIGH_BANDS = ("LH", "HL", "HH")


def haar_dwt(x: torch.Tensor) -> dict[str, torch.Tensor]:
    """One level of the orthonormal Haar DWT of [N, C, H, W] -> four [N, C, ceil(H/2), ceil(W/2)] bands.

    Odd sizes are edge-padded by one row/column. The transform is orthonormal: the bands' total energy equals the
    (padded) input's.
    """
    if x.shape[-2] % 2 or x.shape[-1] % 2:
        x = F.pad(x, (0, x.shape[-1] % 2, 0, x.shape[-2] % 2), mode="replicate")
    a, b = x[..., 0::2, 0::2], x[..., 0::2, 1::2]  # top-left, top-right of each 2x2 block
    c, d = x[..., 1::2, 0::2], x[..., 1::2, 1::2]  # bottom-left, bottom-right
    return {"LL": (a + b + c + d) / 2, "LH": (a - b + c - d) / 2, "HL": (a + b - c - d) / 2,
            "HH": (a - b - c + d) / 2}


def haar_dwt_multilevel(x: torch.Tensor, levels: int) -> list[dict[str, torch.Tensor]]:
    """Bands of each level (finest first), recursing on LL; stops early once the map is 1x1."""
    out = []
    for _ in range(levels):
        if min(x.shape[-2:]) < 2:
            break
        bands = haar_dwt(x)
        out.append(bands)
        x = bands["LL"]
    return out


def wavelet_loss(pred: torch.Tensor, target: torch.Tensor, levels: int = 3,
                 bands: tuple[str, ...] = HIGH_BANDS) -> torch.Tensor:
    """Sum over levels and `bands` of the mean absolute difference of the Haar coefficients (scalar)."""
    if pred.shape != target.shape:
        raise ValueError(f"wavelet loss needs equal shapes, got {tuple(pred.shape)} and {tuple(target.shape)}")
    unknown = set(bands) - set(BANDS)
    if unknown:
        raise ValueError(f"unknown wavelet bands {sorted(unknown)}; choose from {BANDS}")
    diff = haar_dwt_multilevel(pred.float() - target.float(), levels)  # the DWT is linear
    if not diff:
        raise ValueError(f"feature maps of size {tuple(pred.shape[-2:])} are too small for a wavelet level")
    return sum(level[b].abs().mean() for level in diff for b in bands)


__all__ = ["BANDS", "HIGH_BANDS", "haar_dwt", "haar_dwt_multilevel", "wavelet_loss"]
