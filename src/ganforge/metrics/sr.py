"""PSNR and SSIM as super-resolution papers report them (BasicSR's calculate_psnr / calculate_ssim with
test_y_channel): on the BT.601 luma Y of the MATLAB `rgb2ycbcr` convention, 0-255 scale, after cropping a border.

Written here because neither BasicSR nor scikit-image is a dependency; SSIM reuses ganforge's own Gaussian-window
SSIM terms (ganforge.perceptual.ms_ssim), which filter with the same 'valid' separable window.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ganforge.perceptual.ms_ssim import gaussian_window, ssim_terms

# ITU-R BT.601 luma for RGB in [0, 1], giving Y in [16, 235] (MATLAB rgb2ycbcr; BasicSR rgb2ycbcr y_only).
Y_WEIGHTS = (65.481, 128.553, 24.966)
Y_OFFSET = 16.0
SSIM_WINDOW, SSIM_SIGMA = 11, 1.5  # Wang et al. 2004 (IEEE TIP, Sec. III-C); BasicSR and skimage use the same


def _as_nchw(img: torch.Tensor | np.ndarray, data_range: float) -> torch.Tensor:
    """float64 [N, C, H, W] in [0, 1]; numpy arrays are HW / HWC / NHWC (as images load), tensors CHW / NCHW."""
    if isinstance(img, np.ndarray):
        t = torch.from_numpy(np.asarray(img, dtype=np.float64))
        t = t[None, None] if t.ndim == 2 else t.permute(2, 0, 1)[None] if t.ndim == 3 else t.permute(0, 3, 1, 2)
    else:
        t = img.detach().to("cpu", torch.float64)
        t = t[None] if t.ndim == 3 else t
    if t.ndim != 4 or t.shape[1] not in (1, 3):
        raise ValueError(f"expected RGB or grey images (HWC arrays, CHW / NCHW tensors), got shape {tuple(img.shape)}")
    return t / data_range


def rgb_to_y(img: torch.Tensor) -> torch.Tensor:
    """[N, 3, H, W] RGB in [0, 1] -> [N, 1, H, W] luma Y on the 0-255 scale (16 + 65.481 R + 128.553 G + 24.966 B)."""
    w = torch.tensor(Y_WEIGHTS, dtype=img.dtype, device=img.device).view(1, 3, 1, 1)
    return (img * w).sum(1, keepdim=True) + Y_OFFSET


def _prepare(x: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray, crop_border: int, y_channel: bool,
             data_range: float) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = _as_nchw(x, data_range), _as_nchw(y, data_range)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    if crop_border < 0 or 2 * crop_border >= min(a.shape[-2:]):
        raise ValueError(f"crop_border {crop_border} leaves nothing of {a.shape[-2]}x{a.shape[-1]} images")
    if crop_border:
        a, b = a[..., crop_border:-crop_border, crop_border:-crop_border], b[..., crop_border:-crop_border,
                                                                            crop_border:-crop_border]
    if y_channel and a.shape[1] == 3:
        return rgb_to_y(a), rgb_to_y(b)
    return a * 255.0, b * 255.0  # grey images (or y_channel=False): every channel on the 0-255 scale


def psnr(x: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray, crop_border: int = 0, *,
         y_channel: bool = True, data_range: float = 1.0) -> torch.Tensor:
    """Per-image PSNR in dB, 10 log10(255^2 / MSE), float64 [N]; inf for identical images. Images hold values in
    [0, data_range] (255 for uint8 arrays); `crop_border` pixels are dropped on every side (usually the scale)."""
    a, b = _prepare(x, y, crop_border, y_channel, data_range)
    mse = (a - b).pow(2).flatten(1).mean(1)
    return torch.where(mse == 0, torch.full_like(mse, math.inf), 10 * torch.log10(255.0**2 / mse.clamp_min(1e-300)))


def ssim(x: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray, crop_border: int = 0, *,
         y_channel: bool = True, data_range: float = 1.0) -> torch.Tensor:
    """Per-image SSIM, float64 [N]: 11x11 Gaussian window (sigma 1.5), C1 = (0.01*255)^2, C2 = (0.03*255)^2, the
    mean of the SSIM map over 'valid' positions (and channels, when y_channel is off), as BasicSR's calculate_ssim."""
    a, b = _prepare(x, y, crop_border, y_channel, data_range)
    if min(a.shape[-2:]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} after cropping, "
                         f"got {a.shape[-2]}x{a.shape[-1]}")
    win = gaussian_window(SSIM_WINDOW, SSIM_SIGMA, a.shape[1], a)
    return ssim_terms(a, b, win, 255.0)[0]


def crop_patches(x: torch.Tensor, size: int) -> torch.Tensor:
    """The non-overlapping size x size patches of images [N, C, H, W] (edges that do not fill a patch dropped), as
    [N * (H // size) * (W // size), C, size, size]."""
    if x.dim() != 4:
        raise ValueError(f"images must be [N, C, H, W], got shape {tuple(x.shape)}")
    c, h, w = x.shape[1:]
    if not 1 <= size <= min(h, w):
        raise ValueError(f"patch size {size} must be between 1 and the images' smaller side {min(h, w)}")
    tiles = x[..., : h - h % size, : w - w % size].unfold(2, size, size).unfold(3, size, size)
    return tiles.permute(0, 2, 3, 1, 4, 5).reshape(-1, c, size, size)


def fid_on_crops(sr: torch.Tensor, hr: torch.Tensor, patch: int | None = None, features: str = "inception",
                 **options: object) -> float:
    """FID between super-resolved images and their HR originals (both [N, 3, H, W] in [0, 1]) on any registered
    feature extractor. With `patch`, both are first cut into patch x patch crops: a test set of a few images gives
    enough samples for FID only as crops. `options` go to ganforge.metrics.EvalOptions (e.g. weights=FILE for
    the Inception weights, which are not downloaded without allow_download)."""
    from ganforge.metrics.evaluate import evaluate_images

    if sr.shape != hr.shape:
        raise ValueError(f"SR {tuple(sr.shape)} and HR {tuple(hr.shape)} images must have the same shape")
    sr, hr = (crop_patches(x, patch) if patch else x for x in (sr, hr))
    if len(sr) < 2:
        raise ValueError(f"FID needs at least 2 images or crops, got {len(sr)}; use a smaller patch")
    sr, hr = ((x.clamp(0, 1) * 255).round().to(torch.uint8) for x in (sr, hr))
    # `features` as the options' extractor, so that weights=FILE reaches it whichever it is
    return evaluate_images(hr, sr, "fid", None, disk_cache=False, **{**options, "features": features})["fid"]
