"""Differentiable multi-scale SSIM (Wang, Simoncelli & Bovik 2003) that also works on 32x32 images.

Defaults: Gaussian window 7x7 (sigma 1.5), up to 5 scales with the paper's weights. The number of scales is the
largest S <= len(weights) with min(H, W) / 2^(S-1) >= window size ("valid" filtering needs a full window at the
coarsest scale), so 32x32 -> 3 scales, 64x64 -> 4, >= 112x112 -> 5; the used weights are renormalised to sum 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["MS_SSIM_WEIGHTS", "gaussian_window", "ms_ssim", "ms_ssim_loss", "num_scales", "ssim_terms"]

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang et al. 2003, Sec. 3
_EPS = 1e-6  # lower clamp before fractional powers: keeps gradients finite where contrast-structure is <= 0


def num_scales(size: int, win_size: int = 7, max_scales: int = len(MS_SSIM_WEIGHTS)) -> int:
    """Largest number of scales whose coarsest level (size / 2^(S-1)) still holds a full window."""
    s = 0
    while s < max_scales and size // (2**s) >= win_size:
        s += 1
    if s == 0:
        raise ValueError(f"images of side {size} are smaller than the {win_size}x{win_size} SSIM window")
    return s


def gaussian_window(win_size: int, sigma: float, channels: int, like: torch.Tensor) -> torch.Tensor:
    coords = torch.arange(win_size, dtype=like.dtype, device=like.device) - (win_size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return g.view(1, 1, 1, -1).repeat(channels, 1, 1, 1)


def _filter(x: torch.Tensor, win: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' Gaussian filtering per channel."""
    c = x.shape[1]
    x = F.conv2d(x, win, groups=c)
    return F.conv2d(x, win.transpose(2, 3), groups=c)


def ssim_terms(x: torch.Tensor, y: torch.Tensor, win: torch.Tensor, data_range: float
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample mean SSIM and mean contrast-structure term over pixels and channels (Wang et al. 2004, Eq. 13)."""
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_x, mu_y = _filter(x, win), _filter(y, win)
    sxx = _filter(x * x, win) - mu_x**2
    syy = _filter(y * y, win) - mu_y**2
    sxy = _filter(x * y, win) - mu_x * mu_y
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    lum = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    return (lum * cs).flatten(1).mean(1), cs.flatten(1).mean(1)


def ms_ssim(x: torch.Tensor, y: torch.Tensor, *, data_range: float = 2.0, win_size: int = 7, sigma: float = 1.5,
            weights: tuple[float, ...] = MS_SSIM_WEIGHTS, scales: int | None = None) -> torch.Tensor:
    """MS-SSIM per sample [N] of NCHW images (default data_range 2 for images in [-1, 1]); 1 for identical inputs.

    MS-SSIM = prod_{j<S} cs_j^{w_j} * ssim_S^{w_S} (Wang et al. 2003, Eq. 7), with 2x average pooling between scales.
    """
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"expected two NCHW tensors of equal shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    s = scales if scales is not None else num_scales(min(x.shape[-2:]), win_size, len(weights))
    if min(x.shape[-2:]) // 2 ** (s - 1) < win_size:
        raise ValueError(f"{s} scales need images of at least {win_size * 2 ** (s - 1)} px, got {tuple(x.shape)}")
    w = torch.tensor(weights[:s], dtype=x.dtype, device=x.device)
    w = w / w.sum()
    win = gaussian_window(win_size, sigma, x.shape[1], x)
    value = torch.ones(x.shape[0], dtype=x.dtype, device=x.device)
    for j in range(s):
        ssim_j, cs_j = ssim_terms(x, y, win, data_range)
        term = ssim_j if j == s - 1 else cs_j
        value = value * term.clamp_min(_EPS) ** w[j]
        if j < s - 1:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    return value


def ms_ssim_loss(x: torch.Tensor, y: torch.Tensor, **kwargs) -> torch.Tensor:
    """1 - MS-SSIM per sample [N]: 0 for identical images, larger for less similar ones."""
    return 1.0 - ms_ssim(x, y, **kwargs)
