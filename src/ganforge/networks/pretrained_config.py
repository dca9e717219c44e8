"""Config of discriminators built on frozen pretrained backbones: vision-aided entries (d_aux) and projected D."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, get_args

from ganforge.augment.diffaugment import parse_policy

Precision = Literal["fp32", "bf16", "auto"]


def _check_common(what: str, resolution: int | None, layers: list[str], precision: str) -> None:
    if resolution is not None and not 16 <= resolution <= 1024:
        raise ValueError(f"{what}.resolution must be in [16, 1024] (None: the backbone's own size), got {resolution}")
    if any(not isinstance(name, str) or not name for name in layers):
        raise ValueError(f"{what}.layers must be layer names like relu3_3 or block7, got {layers}")
    if precision not in get_args(Precision):
        raise ValueError(f"{what}.precision must be fp32, bf16 or auto (BF16 where it is native), got {precision!r}")


@dataclass
class AuxDConfig:
    """One vision-aided discriminator (Kumari et al. 2022): frozen backbone + trainable head on tapped layers.

    backbone: a registered name (vgg16, alexnet, dino, clip or one added with register_backbone).
    layers: taps (e.g. relu3_3, block7); empty = the backbone's defaults. One logit per tap, losses averaged.
    head: linear (pooled features -> 1), mlp (pooled -> hidden -> 1) or conv (3x3 stride-2 conv -> 1x1, patch
        logits averaged); spectral_norm on the head's layers as in the paper.
    weight, warmup_kimg: the loss is added to L_D and L_G as weight * loss once cur_nimg >= warmup_kimg * 1000.
    loss: nsgan (the paper's sigmoid loss), hinge or rpgan.
    augment: DiffAugment policy applied before the backbone ("" = none); p = 1 as in DiffAugment.
    resolution: backbone input side (None = the backbone's own, 224 for the built-ins; smaller is cheaper).
    r1, r2: zero-centred gradient penalties through the backbone on this branch (off: the paper has none); they
        use the run's gamma and lazy interval, and cost a double backward through the backbone (always in FP32).
    precision: the frozen backbone in fp32, bf16 (autocast) or auto (bf16 where BF16 is native: CUDA, CPUs with
        AVX512-BF16/AMX; emulated BF16 elsewhere is several times slower); the heads always run in FP32.
    """

    backbone: str = "vgg16"
    layers: list[str] = field(default_factory=list)
    head: Literal["linear", "mlp", "conv"] = "mlp"
    head_width: int = 256
    spectral_norm: bool = True
    weight: float = 1.0
    warmup_kimg: float = 0.0
    loss: Literal["nsgan", "hinge", "rpgan"] = "nsgan"
    augment: str = "color,translation,cutout"
    resolution: int | None = None
    weights: str | None = None
    r1: bool = False
    r2: bool = False
    precision: Precision = "fp32"

    def __post_init__(self) -> None:
        if not self.backbone:
            raise ValueError("d_aux.backbone must name a registered backbone, e.g. vgg16")
        if not (isinstance(self.weight, (int, float)) and math.isfinite(self.weight) and self.weight >= 0):
            raise ValueError(f"d_aux.weight must be a finite number >= 0, got {self.weight}")
        if not (isinstance(self.warmup_kimg, (int, float)) and self.warmup_kimg >= 0):
            raise ValueError(f"d_aux.warmup_kimg must be >= 0, got {self.warmup_kimg}")
        if not 1 <= self.head_width <= 65536:
            raise ValueError(f"d_aux.head_width must be in [1, 65536], got {self.head_width}")
        _check_common("d_aux", self.resolution, self.layers, self.precision)
        parse_policy(self.augment)

    @classmethod
    def parse(cls, text: str) -> AuxDConfig:
        """Shorthand of an override: "vgg16" = AuxDConfig(backbone="vgg16")."""
        if not text.replace("_", "").replace("-", "").replace(".", "").isalnum():
            raise ValueError(f"expected a backbone name (d_aux=vgg16,clip) or a JSON list of objects "
                             f'(d_aux=\'[{{"backbone": "vgg16", "weight": 0.5}}]\'), got {text!r}')
        return cls(backbone=text)


@dataclass
class ProjectedConfig:
    """Projected GAN discriminator (Sauer et al. 2021), used when d_arch=projected.

    Frozen backbone; fixed random 1x1 cross-channel (CCM) and 3x3 cross-scale (CSM) projections drawn from `seed`
    and kept as checkpoint buffers; one trainable patch discriminator per tapped scale; hinge loss.
    channels: CCM output width of the first tap, doubled per deeper tap when expand (Projected GAN's 64-128-256-512).
    head_width: conv width of each scale's discriminator, which strides down to 4x4 patches.
    precision: the frozen backbone in fp32, bf16 or auto, as for d_aux; projections and heads run in FP32. It
        holds for every pass, also R1/R2 if loss.r1/r2 are turned on (the Projected GAN recipe has none).
    """

    backbone: str = "vgg16"
    layers: list[str] = field(default_factory=list)
    channels: int = 64
    expand: bool = True
    head_width: int = 64
    spectral_norm: bool = True
    seed: int = 0
    resolution: int | None = None
    weights: str | None = None
    precision: Precision = "fp32"

    def __post_init__(self) -> None:
        if not self.backbone:
            raise ValueError("projected.backbone must name a registered backbone, e.g. vgg16")
        if not 1 <= self.channels <= 4096 or not 1 <= self.head_width <= 4096:
            raise ValueError(f"projected.channels and head_width must be in [1, 4096], got {self.channels}, "
                             f"{self.head_width}")
        if self.seed < 0:
            raise ValueError(f"projected.seed must be >= 0, got {self.seed}")
        _check_common("projected", self.resolution, self.layers, self.precision)


__all__ = ["AuxDConfig", "ProjectedConfig"]
