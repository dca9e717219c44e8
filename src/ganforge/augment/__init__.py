"""Data-efficient GAN training: DiffAugment, an ADA-style non-leaky pipeline, and p controllers (issue 4).

Training-loop usage (augment every image D sees, reals and fakes, in the D and the G step; never the samples,
evaluation or export):

    aug, ctrl = build_augment(cfg), build_controller(cfg)
    logits_real = D(aug(reals)); logits_fake = D(aug(G(z)))      # D step
    aug.p = ctrl.update(cur_nimg, batch_size, logits_real, logits_fake)  # fake logits: relativistic loss
    logits_fake = D(aug(G(z)))                                    # G step
    checkpoint["augment"] = ctrl.state_dict()                     # resume: load_state_dict, aug.p = ctrl.p
"""

from ganforge.augment.base import Augmenter, NoAugment
from ganforge.augment.config import R3GAN_TABLE7, AugmentConfig, r3gan_augment_config
from ganforge.augment.diffaugment import POLICIES, DiffAugment, diff_augment
from ganforge.augment.factory import build_augment, build_controller
from ganforge.augment.pipeline import PRESETS, TRANSFORMS, AugmentParams, AugmentPipe, AugmentStrengths
from ganforge.augment.probability import (
    AdaptiveProbability,
    CosineProbability,
    FixedProbability,
    ProbabilityController,
    cosine_ramp,
)

__all__ = [
    "POLICIES",
    "PRESETS",
    "R3GAN_TABLE7",
    "TRANSFORMS",
    "AdaptiveProbability",
    "AugmentConfig",
    "AugmentParams",
    "AugmentPipe",
    "AugmentStrengths",
    "Augmenter",
    "CosineProbability",
    "DiffAugment",
    "FixedProbability",
    "NoAugment",
    "ProbabilityController",
    "build_augment",
    "build_controller",
    "cosine_ramp",
    "diff_augment",
    "r3gan_augment_config",
]
