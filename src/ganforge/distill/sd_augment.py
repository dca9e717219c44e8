"""The shared augmentation T of SD-GAN (Appendix C): one random draw, applied identically to G(z) and G_ema(z).

Per sample, `max_ops` (2) of the three ops (horizontal flip, rotation by U(-5, 5) degrees, translation by
U(-0.01, 0.01) of the image size per axis) are chosen at random and each chosen op fires with probability p = 0.5
(kornia's AugmentationSequential(..., random_apply=2) semantics, drawn per sample). Applied as flip (exact), then
one bilinear resampling for rotation+translation; samples without rotation/translation are not resampled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SDAugment", "SDAugmentConfig", "SDAugmentParams"]


@dataclass
class SDAugmentConfig:
    """Parameters of T (defaults: SD-GAN Appendix C, Listing 1)."""

    p: float = 0.5
    max_rotation_deg: float = 5.0
    max_translation: float = 0.01  # fraction of width/height
    max_ops: int = 2
    padding_mode: str = "zeros"  # grid_sample padding for rotated/translated borders (0 = mid-grey in [-1, 1])


@dataclass
class SDAugmentParams:
    """One draw of T for a batch: flip mask [N], rotation in radians [N], translation in fractions [N, 2]."""

    flip: torch.Tensor
    angle: torch.Tensor
    shift: torch.Tensor

    @property
    def resample(self) -> torch.Tensor:
        """Samples that need bilinear resampling (non-zero rotation or translation)."""
        return (self.angle != 0) | (self.shift != 0).any(dim=1)


class SDAugment(nn.Module):
    """Draws T once per call and applies the same T to every image batch given: `a_t, b_t = aug(a, b)`."""

    def __init__(self, cfg: SDAugmentConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or SDAugmentConfig()
        if not 0 <= self.cfg.max_ops <= 3:
            raise ValueError(f"max_ops must be in [0, 3], got {self.cfg.max_ops}")

    def sample(self, n: int, device: torch.device | str = "cpu",
               generator: torch.Generator | None = None) -> SDAugmentParams:
        """Draw per-sample parameters: a random `max_ops`-subset of {flip, rotate, translate}, each firing w.p. p."""
        cfg = self.cfg
        u = torch.rand(n, 7, generator=generator, device=generator.device if generator else device)
        order = u[:, :3].argsort(dim=1)
        chosen = torch.zeros(n, 3, dtype=torch.bool, device=u.device)
        chosen.scatter_(1, order[:, : cfg.max_ops], True)
        fire = chosen & (u[:, 3:6] < cfg.p)
        angle = (u[:, 6] * 2 - 1) * math.radians(cfg.max_rotation_deg)
        shift = (torch.rand(n, 2, generator=generator, device=u.device) * 2 - 1) * cfg.max_translation
        params = SDAugmentParams(flip=fire[:, 0], angle=torch.where(fire[:, 1], angle, torch.zeros_like(angle)),
                                 shift=torch.where(fire[:, 2:3], shift, torch.zeros_like(shift)))
        return SDAugmentParams(params.flip.to(device), params.angle.to(device), params.shift.to(device))

    def apply(self, images: torch.Tensor, params: SDAugmentParams) -> torch.Tensor:
        """Apply a previously drawn T to `images` (N, C, H, W); differentiable w.r.t. the images."""
        flip = params.flip.view(-1, 1, 1, 1)
        x = torch.where(flip, images.flip(-1), images)
        resample = params.resample
        if not bool(resample.any()):
            return x
        cos, sin = torch.cos(params.angle), torch.sin(params.angle)
        # Normalised coordinates span 2 units per image side, hence the factor 2 on the shift fraction.
        theta = torch.stack([
            torch.stack([cos, -sin, -2 * params.shift[:, 0]], dim=1),
            torch.stack([sin, cos, -2 * params.shift[:, 1]], dim=1),
        ], dim=1).to(x.dtype)  # fmt: skip
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        warped = F.grid_sample(x, grid, mode="bilinear", padding_mode=self.cfg.padding_mode, align_corners=False)
        return torch.where(resample.view(-1, 1, 1, 1), warped, x)

    def forward(self, *images: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
        """Apply ONE draw of T to each of `images` (all of the same batch size)."""
        n = images[0].shape[0]
        if any(img.shape[0] != n for img in images):
            raise ValueError("all image batches must have the same batch size")
        params = self.sample(n, images[0].device, generator)
        return tuple(self.apply(img, params) for img in images)
