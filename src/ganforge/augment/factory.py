"""Builders the training loop calls: `build_augment(cfg)` for the Augmenter, `build_controller(cfg)` for p."""

from __future__ import annotations

from ganforge.augment.base import Augmenter, NoAugment
from ganforge.augment.config import AugmentConfig
from ganforge.augment.diffaugment import DiffAugment
from ganforge.augment.pipeline import AugmentPipe
from ganforge.augment.probability import (
    AdaptiveProbability,
    CosineProbability,
    FixedProbability,
    ProbabilityController,
)


def build_controller(cfg: AugmentConfig) -> ProbabilityController:
    """The p controller chosen by cfg.mode; its initial p matches `build_augment(cfg).p`."""
    cfg.validate()
    mode = cfg.mode
    if mode == "cosine":
        return CosineProbability(cfg.resolved_p, cfg.burnin_kimg, interval=cfg.ada_interval)
    if mode == "adaptive":
        return AdaptiveProbability(cfg.ada_target, cfg.ada_kimg, interval=cfg.ada_interval, p=cfg.resolved_p)
    return FixedProbability(cfg.resolved_p, interval=cfg.ada_interval)


def build_augment(cfg: AugmentConfig) -> Augmenter:
    """NoAugment, DiffAugment(cfg.policy) or AugmentPipe(cfg.preset), at the controller's initial p."""
    cfg.validate()
    p = build_controller(cfg).p
    if cfg.kind == "diffaugment":
        return DiffAugment(cfg.policy, p=p)
    if cfg.kind == "ada":
        return AugmentPipe(p=p, multipliers=cfg.preset)
    return NoAugment(0.0)
