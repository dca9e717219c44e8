"""Burn-in cosine schedules (R3GAN App. J) and EMA half-life arithmetic (Karras et al., StyleGAN2-ADA)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Cosine:
    """start -> end over the first `burnin_kimg` thousand images along half a cosine, then held at end."""

    start: float
    end: float
    burnin_kimg: float

    def __call__(self, cur_nimg: float) -> float:
        if self.burnin_kimg <= 0:
            return self.end
        t = min(max(cur_nimg / (self.burnin_kimg * 1000.0), 0.0), 1.0)
        decay = 0.5 * (1.0 + math.cos(math.pi * t))
        return self.start + (1.0 - decay) * (self.end - self.start)


@dataclass
class EMAHalfLife:
    """The G_ema half-life in images at cur_nimg: the burn-in cosine, capped at rampup x cur_nimg when rampup > 0.

    StyleGAN2-ADA's ramp-up (NVlabs/stylegan2-ada-pytorch training/training_loop.py: ema_nimg = min(ema_nimg,
    cur_nimg * ema_rampup)) lets G_ema follow G closely early on; 0 = off, the R3GAN schedule alone.
    """

    halflife: Cosine
    rampup: float = 0.0

    def __call__(self, cur_nimg: float) -> float:
        h = self.halflife(cur_nimg)
        return min(h, cur_nimg * self.rampup) if self.rampup > 0 else h


@dataclass
class ScaledHalfLife:
    """An extra EMA's half-life: the main schedule x end_kimg / its end, so it ends at end_kimg with the same shape.

    A main schedule that ends at 0 (G_ema = G) has nothing to scale: end_kimg throughout, under the same ramp-up.
    """

    main: EMAHalfLife
    end_kimg: float

    def __call__(self, cur_nimg: float) -> float:
        end_nimg = self.end_kimg * 1000.0
        if self.main.halflife.end <= 0:
            return EMAHalfLife(Cosine(end_nimg, end_nimg, 0.0), self.main.rampup)(cur_nimg)
        return self.main(cur_nimg) * end_nimg / self.main.halflife.end


def ema_beta(batch_size: int, halflife_nimg: float) -> float:
    """Per-step EMA decay so that the weight of an update halves after `halflife_nimg` images: 0.5^(B / h)."""
    if halflife_nimg <= 0:
        return 0.0
    return 0.5 ** (batch_size / halflife_nimg)
