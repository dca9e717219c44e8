"""The pixel operations of the SR degradations (ganforge.data.degradation): resize, Gaussian and Poisson noise, JPEG,
8-bit quantisation, bicubic downsampling and unsharp masking, batched in torch on [N, C, H, W] images in [0, 1].
Random draws come in as arguments or from the torch.Generator passed in."""

from __future__ import annotations

import io
import math
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ResizeMode = Literal["area", "bilinear", "bicubic"]
GREY_WEIGHTS = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale, which Real-ESRGAN's grey Poisson noise uses


def resize(img: torch.Tensor, size: tuple[int, int], mode: ResizeMode) -> torch.Tensor:
    """F.interpolate without antialiasing, as Real-ESRGAN resizes (area = box average, also used to upscale)."""
    size = (max(1, int(size[0])), max(1, int(size[1])))
    if mode == "area":
        return F.interpolate(img, size=size, mode="area")
    return F.interpolate(img, size=size, mode=mode, align_corners=False)


def gaussian_noise(img: torch.Tensor, sigma: torch.Tensor, grey: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Additive white Gaussian noise (Real-ESRGAN Sec. 3.1, "Noise"): std sigma[i] / 255 for image i; where
    grey[i], one noise map is shared by the three channels (grey noise), else each channel has its own."""
    n, c, h, w = img.shape
    colour = torch.randn(n, c, h, w, generator=g)
    mono = torch.randn(n, 1, h, w, generator=g).expand(n, c, h, w)
    noise = torch.where(grey.view(n, 1, 1, 1), mono, colour) * (sigma.float().view(n, 1, 1, 1) / 255.0)
    return noise.to(img.device, img.dtype)


def _shot(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Poisson noise of 8-bit-quantised x: counts ~ Poisson(x * L) / L with L = 2^ceil(log2(distinct levels)) per
    image (scikit-image's random_noise rule, which Real-ESRGAN follows), returned as the difference to x."""
    q = (x * 255.0).round().clamp(0, 255) / 255.0
    counts = [int((torch.bincount((q[i] * 255.0).round().long().flatten(), minlength=256) > 0).sum())
              for i in range(len(q))]
    levels = torch.tensor([2.0 ** math.ceil(math.log2(c)) for c in counts])
    levels = levels.view(-1, 1, 1, 1)
    return torch.poisson(q * levels, generator=g) / levels - q


def poisson_noise(img: torch.Tensor, scale: torch.Tensor, grey: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Signal-dependent shot noise (Real-ESRGAN Sec. 3.1, "Noise"), its variance proportional to the intensity,
    multiplied by scale[i]; where grey[i] it is drawn on the luma and shared by the three channels."""
    n, c, h, w = img.shape
    x = img.detach().to("cpu", torch.float32)
    colour = _shot(x, g)
    luma = (x * torch.tensor(GREY_WEIGHTS).view(1, 3, 1, 1)).sum(1, keepdim=True) if c == 3 else x[:, :1]
    mono = _shot(luma, g).expand(n, c, h, w)
    noise = torch.where(grey.view(n, 1, 1, 1), mono, colour) * scale.float().view(n, 1, 1, 1)
    return noise.to(img.device, img.dtype)


def jpeg(img: torch.Tensor, quality: torch.Tensor | list[float]) -> torch.Tensor:
    """JPEG round trip of each image at its own quality (rounded to an integer in 1..100), values clamped first.

    Real-ESRGAN uses BasicSR's DiffJPEG, a torch re-implementation of baseline JPEG (IJG tables scaled by quality,
    4:2:0 chroma). Neither torch nor torchvision ships such a module, and torchvision.io's libjpeg encoder is
    deprecated since torchvision 0.29 (its successor, torchcodec, is not a dependency), so each image makes a round
    trip through Pillow's libjpeg instead: the same IJG quality scaling and 4:2:0 chroma subsampling, on the 8-bit
    pixels, on the CPU, one image at a time as every image has its own quality. Not differentiable.
    """
    u8 = (img.detach().clamp(0, 1) * 255.0).round().to("cpu", torch.uint8).permute(0, 2, 3, 1).numpy()
    out = []
    for i, q in enumerate(quality):
        buf = io.BytesIO()
        Image.fromarray(u8[i] if u8.shape[-1] == 3 else u8[i, :, :, 0]).save(
            buf, format="JPEG", quality=min(100, max(1, round(float(q)))))
        with Image.open(buf) as decoded:
            arr = np.asarray(decoded, dtype=np.uint8)
        out.append(torch.from_numpy(arr.reshape(arr.shape[0], arr.shape[1], -1).copy()))
    return torch.stack(out).permute(0, 3, 1, 2).to(img.device, img.dtype).contiguous() / 255.0


def quantize(img: torch.Tensor) -> torch.Tensor:
    """Clamp to [0, 1] and round to the 256 levels of an 8-bit image, as Real-ESRGAN's LR images are."""
    return (img.clamp(0, 1) * 255.0).round() / 255.0


def bicubic_downsample(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """The classical SR degradation: antialiased bicubic (a = -0.5, as MATLAB imresize and PIL) by 1/scale, then
    8-bit quantisation."""
    h, w = hr.shape[-2:]
    lr = F.interpolate(hr, size=(h // scale, w // scale), mode="bicubic", align_corners=False, antialias=True)
    return quantize(lr)


def usm_sharpen(img: torch.Tensor, weight: float = 0.5, threshold: float = 10.0, radius: int = 50) -> torch.Tensor:
    """Unsharp-masked HR targets, as Real-ESRGAN trains against (gt_usm; BasicSR's USMSharp defaults): the residual
    to a Gaussian blur is added with `weight` where it exceeds `threshold` / 255, with a blurred (soft) mask."""
    size = radius + 1 if radius % 2 == 0 else radius
    sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8  # OpenCV's getGaussianKernel rule for sigma <= 0, as USMSharp uses
    ax = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    k1 = torch.exp(-ax**2 / (2 * sigma**2))
    k1 = (k1 / k1.sum()).to(img.device, img.dtype)

    def blur(x: torch.Tensor) -> torch.Tensor:  # separable: the same result as the 2D outer-product kernel
        n, c, h, w = x.shape
        p = size // 2
        y = F.pad(x.reshape(n * c, 1, h, w), (p, p, p, p), mode="reflect" if p < min(h, w) else "replicate")
        y = F.conv2d(F.conv2d(y, k1.view(1, 1, 1, -1)), k1.view(1, 1, -1, 1))
        return y.view(n, c, h, w)

    residual = img - blur(img)
    mask = blur((residual.abs() * 255.0 > threshold).to(img.dtype))
    sharp = (img + weight * residual).clamp(0, 1)
    return mask * sharp + (1 - mask) * img


__all__ = ["GREY_WEIGHTS", "ResizeMode", "bicubic_downsample", "gaussian_noise", "jpeg", "poisson_noise", "quantize",
           "resize", "usm_sharpen"]
