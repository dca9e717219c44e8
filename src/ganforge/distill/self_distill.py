"""SD-GAN self-distillation loss L_SD(T(G(z)), T(G_ema(z))) between the generator and its EMA teacher.

SD-GAN Eq. 2: L_G = L_adv + alpha * L_SD(T(G(z)), T(G_ema(z))). The same random augmentation T (Appendix C)
is applied to both images, the teacher never gets gradients, and the distance is one of `DISTANCES`:
LPIPS (VGG default, AlexNet), pixel L1/L2, 1 - MS-SSIM, or "d-features", the cheaper variant suggested in the
paper's limitations (Sec. 4.5) that compares the discriminator's own stage features instead of a second network.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.distill.sd_augment import SDAugment, SDAugmentConfig
from ganforge.perceptual.lpips_metric import LPIPS, PRECISIONS
from ganforge.perceptual.ms_ssim import ms_ssim_loss

__all__ = ["DISTANCES", "SelfDistillConfig", "SelfDistiller", "build_self_distiller", "feature_distance"]

DISTANCES = ("lpips-vgg", "lpips-alex", "l1", "l2", "ms-ssim", "d-features")
LPIPS_PASSES = ("split", "fused")
FeatureFn = Callable[[torch.Tensor], Sequence[torch.Tensor]]


@dataclass
class SelfDistillConfig:
    """Self-distillation settings; defaults follow SD-GAN (alpha 1, LPIPS-VGG, shared augmentation)."""

    alpha: float = 1.0
    distance: str = "lpips-vgg"
    augment: bool = True
    resolution: int | None = None  # resize both (augmented) images to this side before the distance, for speed
    batch_fraction: float = 1.0  # L_SD on the first ceil(f * N) samples only: unbiased estimate, f times the cost
    lpips_pass: str = "split"  # "split": teacher trunk pass without autograd + student pass; "fused": one 2N pass
    lpips_precision: str = "auto"  # trunk convs in BF16 where native (CUDA, AVX512-BF16/AMX CPUs), else FP32
    weights: str | None = None  # explicit LPIPS backbone weights file or directory (else the standard search)
    augment_cfg: SDAugmentConfig = field(default_factory=SDAugmentConfig)

    def __post_init__(self) -> None:
        if self.distance not in DISTANCES:
            raise ValueError(f"unknown self-distillation distance {self.distance!r}; choose one of {DISTANCES}")
        if self.lpips_pass not in LPIPS_PASSES:
            raise ValueError(f"lpips_pass must be one of {LPIPS_PASSES}, got {self.lpips_pass!r}")
        if self.lpips_precision not in PRECISIONS:
            raise ValueError(f"lpips_precision must be one of {PRECISIONS}, got {self.lpips_precision!r}")
        if self.alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha}")
        if not 0 < self.batch_fraction <= 1:
            raise ValueError(f"batch_fraction must be in (0, 1], got {self.batch_fraction}")


def _normalize_channels(feat: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Unit-normalise each spatial position's channel vector (as LPIPS does before comparing)."""
    return feat / (feat.pow(2).sum(dim=1, keepdim=True).sqrt() + eps)


def feature_distance(feats_a: Sequence[torch.Tensor], feats_b: Sequence[torch.Tensor]) -> torch.Tensor:
    """LPIPS without learned weights on arbitrary stage features: mean over stages of the spatial mean of
    ||norm(a) - norm(b)||^2 over channels -> [N], each stage's term in [0, 4]."""
    if len(feats_a) != len(feats_b) or not feats_a:
        raise ValueError(f"need two equally long, non-empty feature lists, got {len(feats_a)} and {len(feats_b)}")
    terms = []
    for a, b in zip(feats_a, feats_b, strict=True):
        diff = (_normalize_channels(a.float()) - _normalize_channels(b.float())).pow(2).sum(dim=1)
        terms.append(diff.flatten(1).mean(dim=1))
    return torch.stack(terms).mean(dim=0)


class SelfDistiller(nn.Module):
    """Computes L_SD between student images G(z) and teacher images G_ema(z) (same z, same labels), [-1, 1]."""

    def __init__(self, cfg: SelfDistillConfig, lpips: LPIPS | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.augment = SDAugment(cfg.augment_cfg) if cfg.augment else None
        if cfg.distance.startswith("lpips") and lpips is None:
            raise ValueError(f"distance {cfg.distance!r} needs an LPIPS module (use build_self_distiller)")
        self.lpips = lpips

    @property
    def alpha(self) -> float:
        return self.cfg.alpha

    def _prepare(self, student: torch.Tensor, teacher: torch.Tensor, generator: torch.Generator | None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        if student.shape != teacher.shape:
            raise ValueError(f"student {tuple(student.shape)} and teacher {tuple(teacher.shape)} shapes differ")
        teacher = teacher.detach()
        if self.cfg.batch_fraction < 1:  # z are i.i.d., so the first k samples are a random subset of the batch
            k = max(1, math.ceil(self.cfg.batch_fraction * student.shape[0]))
            student, teacher = student[:k], teacher[:k]
        if self.augment is not None:
            student, teacher = self.augment(student, teacher, generator=generator)
        res = self.cfg.resolution
        if res is not None and tuple(student.shape[-2:]) != (res, res):
            shrink = min(student.shape[-2:]) > res
            kw = dict(size=(res, res), mode="bilinear", align_corners=False, antialias=shrink)
            student, teacher = F.interpolate(student, **kw), F.interpolate(teacher, **kw)
        return student, teacher

    def _lpips(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        assert self.lpips is not None
        needs_graph = torch.is_grad_enabled() and student.requires_grad
        if not needs_graph or self.cfg.lpips_pass == "fused":
            return self.lpips(student, teacher)  # one batched trunk pass over [student; teacher]
        with torch.no_grad():
            taps_t = self.lpips.taps(teacher)
        return self.lpips.distance_from_taps(self.lpips.taps(student), taps_t)

    def per_sample(self, student_imgs: torch.Tensor, teacher_imgs: torch.Tensor,
                   d_features_fn: FeatureFn | None = None, *, generator: torch.Generator | None = None
                   ) -> torch.Tensor:
        """L_SD per sample [N]; gradients flow to `student_imgs` only."""
        student, teacher = self._prepare(student_imgs, teacher_imgs, generator)
        dist = self.cfg.distance
        if dist.startswith("lpips"):
            return self._lpips(student, teacher)
        if dist == "l1":
            return (student - teacher).abs().flatten(1).mean(dim=1)
        if dist == "l2":
            return (student - teacher).pow(2).flatten(1).mean(dim=1)
        if dist == "ms-ssim":
            return ms_ssim_loss(student, teacher)
        if d_features_fn is None:
            raise ValueError("distance 'd-features' needs d_features_fn: images -> list of discriminator features, "
                             "e.g. lambda x: D(x, c, return_features=True)[1]")
        with torch.no_grad():
            feats_t = [f.detach() for f in d_features_fn(teacher)]
        return feature_distance(d_features_fn(student), feats_t)

    def forward(self, student_imgs: torch.Tensor, teacher_imgs: torch.Tensor,
                d_features_fn: FeatureFn | None = None, *, generator: torch.Generator | None = None
                ) -> torch.Tensor:
        """Mean L_SD over the batch (a scalar, not yet multiplied by alpha)."""
        return self.per_sample(student_imgs, teacher_imgs, d_features_fn, generator=generator).mean()

    def generator_term(self, student_imgs: torch.Tensor, teacher_imgs: torch.Tensor,
                       d_features_fn: FeatureFn | None = None, *, generator: torch.Generator | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """(alpha * L_SD to add to L_G, detached L_SD to log). With alpha = 0, L_SD is still computed (for the
        log) but without an autograd graph, and the first entry is a zero that carries no gradient."""
        if self.cfg.alpha == 0:
            with torch.no_grad():
                value = self(student_imgs, teacher_imgs, d_features_fn, generator=generator)
            return torch.zeros((), device=value.device, dtype=value.dtype), value
        value = self(student_imgs, teacher_imgs, d_features_fn, generator=generator)
        return self.cfg.alpha * value, value.detach()


def build_self_distiller(cfg: SelfDistillConfig | None = None, device: torch.device | str = "cpu", *,
                         weights: str | os.PathLike | None = None) -> SelfDistiller:
    """A ready SelfDistiller on `device`; LPIPS distances load the ImageNet trunk (clear error if none is found)."""
    cfg = cfg or SelfDistillConfig()
    lpips = None
    if cfg.distance.startswith("lpips"):
        net = "vgg16" if cfg.distance == "lpips-vgg" else "alexnet"
        lpips = LPIPS(net, weights if weights is not None else cfg.weights, precision=cfg.lpips_precision)
    return SelfDistiller(cfg, lpips).to(device)
