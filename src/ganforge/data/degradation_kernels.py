"""Blur kernels of Real-ESRGAN's degradation model (Wang et al. 2021: Sec. 3.1 "Blur", Sec. 3.3 sinc filters) and
per-image filtering with them, in torch.

Every kernel is a normalised (sums to 1) float32 [K, K] tensor with an odd K, centred on its middle pixel. The
random samplers draw every number from the torch.Generator they are given, so a seed fixes the kernels.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F

KernelType = Literal["iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso"]


def uniform(g: torch.Generator, lo: float, hi: float) -> float:
    """One draw from U(lo, hi) taken from `g` (lo == hi gives lo)."""
    return lo + (hi - lo) * float(torch.rand((), generator=g, dtype=torch.float64))


def choice(g: torch.Generator, weights: tuple[float, ...] | list[float]) -> int:
    """The index of one draw from the categorical distribution `weights`, taken from `g`."""
    w = torch.tensor(weights, dtype=torch.float64)
    return int(torch.multinomial(w / w.sum(), 1, generator=g))


def _coords(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer offsets (x = column, y = row) from the kernel centre, float64 [K, K] each."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"kernel size must be odd and positive, got {size}")
    ax = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    y, x = torch.meshgrid(ax, ax, indexing="ij")
    return x, y


def _quadratic(size: int, sigma_x: float, sigma_y: float, theta: float) -> torch.Tensor:
    """C^T Sigma^-1 C over the kernel grid, with Sigma = R diag(sigma_x^2, sigma_y^2) R^T (Real-ESRGAN Sec. 3.1)."""
    if sigma_x <= 0 or sigma_y <= 0:
        raise ValueError(f"blur sigmas must be positive, got {sigma_x}, {sigma_y}")
    c, s = math.cos(theta), math.sin(theta)
    rot = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
    cov = rot @ torch.diag(torch.tensor([sigma_x**2, sigma_y**2], dtype=torch.float64)) @ rot.T
    inv = torch.linalg.inv(cov)
    x, y = _coords(size)
    return inv[0, 0] * x * x + (inv[0, 1] + inv[1, 0]) * x * y + inv[1, 1] * y * y


def _normalise(k: torch.Tensor) -> torch.Tensor:
    """Scale to sum 1 (a blur keeps the mean brightness), as float32."""
    return (k / k.sum()).float()


def gaussian_kernel(size: int, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0) -> torch.Tensor:
    """Isotropic (sigma_y None) or anisotropic rotated Gaussian: exp(-q / 2) (Real-ESRGAN Sec. 3.1)."""
    q = _quadratic(size, sigma_x, sigma_x if sigma_y is None else sigma_y, theta)
    return _normalise(torch.exp(-0.5 * q))


def generalized_gaussian_kernel(size: int, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0,
                                beta: float = 1.0) -> torch.Tensor:
    """Generalized Gaussian exp(-q^beta / 2) (Real-ESRGAN Sec. 3.1); beta = 1 is the Gaussian."""
    q = _quadratic(size, sigma_x, sigma_x if sigma_y is None else sigma_y, theta)
    return _normalise(torch.exp(-0.5 * q.pow(beta)))


def plateau_kernel(size: int, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0,
                   beta: float = 1.0) -> torch.Tensor:
    """Plateau-shaped kernel 1 / (1 + q^beta) (Real-ESRGAN Sec. 3.1): flat top, heavier tails than a Gaussian."""
    q = _quadratic(size, sigma_x, sigma_x if sigma_y is None else sigma_y, theta)
    return _normalise(1.0 / (1.0 + q.pow(beta)))


def sinc_kernel(size: int, cutoff: float, pad_to: int = 0) -> torch.Tensor:
    """Circular low-pass (2D sinc) k(r) = w_c J1(w_c r) / (2 pi r), centre w_c^2 / (4 pi) (Real-ESRGAN Sec. 3.3).

    `cutoff` w_c is in radians per pixel (pi passes everything); the kernel is zero-padded to `pad_to` if larger.
    """
    x, y = _coords(size)
    r = torch.sqrt(x * x + y * y)
    safe = torch.where(r > 0, r, torch.ones_like(r))
    k = cutoff * torch.special.bessel_j1(cutoff * safe) / (2 * math.pi * safe)
    k = torch.where(r > 0, k, torch.full_like(k, cutoff**2 / (4 * math.pi)))  # the limit of the formula at r = 0
    return pad_kernel(_normalise(k), pad_to)


def pad_kernel(k: torch.Tensor, size: int) -> torch.Tensor:
    """Zero-pad a centred odd kernel to `size` x `size` (unchanged if it is already that large)."""
    p = (size - k.shape[-1]) // 2
    return F.pad(k, (p, p, p, p)) if p > 0 else k


def pulse_kernel(size: int) -> torch.Tensor:
    """The identity kernel (a single 1 in the centre): filtering with it changes nothing."""
    k = torch.zeros(size, size)
    k[size // 2, size // 2] = 1.0
    return k


def _shape_beta(g: torch.Generator, lo: float, hi: float) -> float:
    """Half the draws from U(lo, 1), half from U(1, hi), as Real-ESRGAN's released sampler does for both the
    generalized (0.5, 4) and the plateau (1, 2) ranges; with (1, 2) half the plateau kernels get beta = 1."""
    return uniform(g, lo, 1.0) if uniform(g, 0.0, 1.0) < 0.5 else uniform(g, 1.0, hi)


def random_mixed_kernel(g: torch.Generator, size: int, kinds: tuple[KernelType, ...], probs: tuple[float, ...],
                        sigma: tuple[float, float], betag: tuple[float, float],
                        betap: tuple[float, float]) -> torch.Tensor:
    """One Gaussian-family kernel of a type drawn from `kinds` / `probs` (Real-ESRGAN Sec. 3.1, "Blur").

    sigma_x and sigma_y are drawn from `sigma` and the angle from U(-pi, pi) for the anisotropic types; the
    isotropic ones use sigma_x only.
    """
    kind = kinds[choice(g, probs)]
    sx = uniform(g, *sigma)
    sy, theta = sx, 0.0
    if kind.endswith("aniso"):
        sy, theta = uniform(g, *sigma), uniform(g, -math.pi, math.pi)
    if kind.startswith("generalized"):
        return generalized_gaussian_kernel(size, sx, sy, theta, _shape_beta(g, *betag))
    if kind.startswith("plateau"):
        return plateau_kernel(size, sx, sy, theta, _shape_beta(g, *betap))
    return gaussian_kernel(size, sx, sy, theta)


def random_sinc_cutoff(g: torch.Generator, size: int) -> float:
    """w_c for a blur-stage sinc: U(pi/3, pi) for kernels under 13 taps, else U(pi/5, pi) (Real-ESRGAN's options)."""
    return uniform(g, math.pi / 3 if size < 13 else math.pi / 5, math.pi)


def filter2d(img: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Filter each image of [N, C, H, W] with its own odd kernel ([N, K, K], or one [K, K] for all).

    Reflect padding as in BasicSR's filter2D; replicate padding where the image is too small to reflect. All the
    kernels here are point-symmetric, so correlation (conv2d) equals convolution.
    """
    n, c, h, w = img.shape
    k = kernels.to(img.device, img.dtype)
    k = k.expand(n, -1, -1) if k.ndim == 2 else k
    p = k.shape[-1] // 2
    x = F.pad(img, (p, p, p, p), mode="reflect" if p < min(h, w) else "replicate")
    weight = k[:, None].repeat_interleave(c, dim=0)  # [N * C, 1, K, K]
    return F.conv2d(x.reshape(1, n * c, h + 2 * p, w + 2 * p), weight, groups=n * c).view(n, c, h, w)
