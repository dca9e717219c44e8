"""Distillation: SD-GAN self-distillation (generator vs. its EMA teacher)."""

from ganforge.distill.sd_augment import SDAugment, SDAugmentConfig, SDAugmentParams
from ganforge.distill.self_distill import (
    DISTANCES,
    SelfDistillConfig,
    SelfDistiller,
    build_self_distiller,
    feature_distance,
)

__all__ = [
    "DISTANCES",
    "SDAugment",
    "SDAugmentConfig",
    "SDAugmentParams",
    "SelfDistillConfig",
    "SelfDistiller",
    "build_self_distiller",
    "feature_distance",
]
