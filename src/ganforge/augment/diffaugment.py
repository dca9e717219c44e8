"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training").

The same random differentiable transform T is applied to reals and fakes whenever D sees them, in both the D
and the G step: D(T(x)), D(T(G(z))) (slides 002, "Our approach (DiffAugment)"). Policies follow the official
DiffAugment_pytorch.py: color = brightness + saturation + contrast, translation = integer shift by up to 1/8
of the size with zero padding, cutout = a zeroed square of half the size. Each op is applied to each image
with probability p (p = 1, the default, is the paper's setting).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ganforge.augment.base import Augmenter, param_dtype, uniform

POLICIES: dict[str, tuple[str, ...]] = {
    "color": ("brightness", "saturation", "contrast"),
    "translation": ("translation",),
    "cutout": ("cutout",),
}


def parse_policy(policy: str) -> tuple[str, ...]:
    """Validate a policy string such as "color,translation,cutout" and return its names in order."""
    names = tuple(s.strip() for s in policy.split(",") if s.strip())
    unknown = [n for n in names if n not in POLICIES]
    if unknown:
        raise ValueError(f"unknown DiffAugment policy {unknown} in '{policy}'; choose from {sorted(POLICIES)}")
    return names


def _factor(apply: Tensor | None, value: Tensor, identity: float) -> Tensor:
    """value where the op applies to the image, identity elsewhere; shaped [N, 1, 1, 1]."""
    if apply is not None:
        value = torch.where(apply, value, torch.full_like(value, identity))
    return value.reshape(-1, 1, 1, 1)


def rand_brightness(x: Tensor, apply: Tensor | None, gen: torch.Generator | None) -> Tensor:
    """x + U(-0.5, 0.5) per image."""
    like = torch.empty(x.shape[0], dtype=param_dtype(x), device=x.device)
    return x + _factor(apply, uniform((x.shape[0],), like=like, generator=gen) - 0.5, 0.0).to(x.dtype)


def rand_saturation(x: Tensor, apply: Tensor | None, gen: torch.Generator | None) -> Tensor:
    """Scale the deviation from the per-pixel channel mean by U(0, 2); a no-op on 1-channel images."""
    like = torch.empty(x.shape[0], dtype=param_dtype(x), device=x.device)
    factor = _factor(apply, uniform((x.shape[0],), like=like, generator=gen) * 2, 1.0).to(x.dtype)
    if x.shape[1] == 1:
        return x
    mean = x.mean(dim=1, keepdim=True)
    return x + (factor - 1) * (x - mean)  # = (x - mean) * factor + mean, exact for factor 1


def rand_contrast(x: Tensor, apply: Tensor | None, gen: torch.Generator | None) -> Tensor:
    """Scale the deviation from the per-image mean by U(0.5, 1.5)."""
    like = torch.empty(x.shape[0], dtype=param_dtype(x), device=x.device)
    factor = _factor(apply, uniform((x.shape[0],), like=like, generator=gen) + 0.5, 1.0).to(x.dtype)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return x + (factor - 1) * (x - mean)


def _randint(low: int, high: int, n: int, like: Tensor, gen: torch.Generator | None) -> Tensor:
    """Integers uniform in [low, high) as int64 [n], via the float RNG helper (generator/global RNG rules)."""
    return (torch.floor(uniform((n,), like=like, generator=gen) * (high - low)) + low).long().clamp_(low, high - 1)


def rand_translation(x: Tensor, apply: Tensor | None, gen: torch.Generator | None, ratio: float = 0.125) -> Tensor:
    """Shift each image by an integer offset up to ratio * size (zero padding), via one gather."""
    n, c, h, w = x.shape
    like = torch.empty(n, dtype=param_dtype(x), device=x.device)
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty, tx = _randint(-sh, sh + 1, n, like, gen), _randint(-sw, sw + 1, n, like, gen)
    if apply is not None:
        ty, tx = torch.where(apply, ty, 0), torch.where(apply, tx, 0)
    rows = (torch.arange(h, device=x.device)[None, :, None] + ty[:, None, None] + 1).clamp(0, h + 1)
    cols = (torch.arange(w, device=x.device)[None, None, :] + tx[:, None, None] + 1).clamp(0, w + 1)
    index = (rows * (w + 2) + cols).reshape(n, 1, h * w).expand(n, c, h * w)
    padded = F.pad(x, [1, 1, 1, 1]).reshape(n, c, (h + 2) * (w + 2))
    return padded.gather(2, index).reshape(n, c, h, w)


def rand_cutout(x: Tensor, apply: Tensor | None, gen: torch.Generator | None, ratio: float = 0.5) -> Tensor:
    """Zero a square of ratio * size at a random position (it may be clipped by the border)."""
    n, _, h, w = x.shape
    like = torch.empty(n, dtype=param_dtype(x), device=x.device)
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = _randint(0, h + (1 - ch % 2), n, like, gen) - ch // 2
    ox = _randint(0, w + (1 - cw % 2), n, like, gen) - cw // 2
    rows = torch.arange(h, device=x.device)[None, :, None]
    cols = torch.arange(w, device=x.device)[None, None, :]
    inside = (rows >= oy[:, None, None]) & (rows < (oy + ch)[:, None, None])
    inside = inside & (cols >= ox[:, None, None]) & (cols < (ox + cw)[:, None, None])
    if apply is not None:
        inside = inside & apply[:, None, None]
    return x * (~inside).unsqueeze(1).to(x.dtype)


_OPS = {
    "brightness": rand_brightness,
    "saturation": rand_saturation,
    "contrast": rand_contrast,
    "translation": rand_translation,
    "cutout": rand_cutout,
}


class DiffAugment(Augmenter):
    """DiffAugment as an Augmenter: `DiffAugment("color,translation,cutout")(x)`; p = per-op probability."""

    def __init__(self, policy: str = "color,translation,cutout", p: float = 1.0) -> None:
        super().__init__(p)
        self.policy = ",".join(parse_policy(policy))

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if self.p == 0.0 or not self.policy:
            return x
        if x.ndim != 4:
            raise ValueError(f"expected NCHW images, got shape {tuple(x.shape)}")
        like = torch.empty(x.shape[0], dtype=param_dtype(x), device=x.device)
        for name in self.policy.split(","):
            for op in POLICIES[name]:
                apply = None if self.p >= 1.0 else uniform((x.shape[0],), like=like, generator=generator) < self.p
                x = _OPS[op](x, apply, generator)
        return x

    def extra_repr(self) -> str:
        return f"policy='{self.policy}', p={self.p:.4f}"


def diff_augment(
    x: Tensor, policy: str = "color,translation,cutout", generator: torch.Generator | None = None
) -> Tensor:
    """Functional form matching the reference `DiffAugment(x, policy=...)` call (p = 1)."""
    return DiffAugment(policy)(x, generator)
