"""AugmentConfig validation, the builders the training loop calls, and the R3GAN Table 7 presets."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from ganforge.augment import (
    AdaptiveProbability,
    AugmentConfig,
    AugmentPipe,
    CosineProbability,
    DiffAugment,
    FixedProbability,
    NoAugment,
    build_augment,
    build_controller,
    r3gan_augment_config,
)


def test_default_is_no_augmentation():
    cfg = AugmentConfig()
    aug, ctrl = build_augment(cfg), build_controller(cfg)
    x = torch.rand(2, 3, 8, 8)
    assert isinstance(aug, NoAugment) and aug(x) is x and aug.p == 0.0
    assert isinstance(ctrl, FixedProbability) and ctrl.p == 0.0


def test_diffaugment_defaults_to_the_paper_setting():
    cfg = AugmentConfig(kind="diffaugment")
    aug, ctrl = build_augment(cfg), build_controller(cfg)
    assert isinstance(aug, DiffAugment) and aug.policy == "color,translation,cutout" and aug.p == 1.0
    assert isinstance(ctrl, FixedProbability) and ctrl.update(0, 8, torch.ones(8)) == 1.0


def test_ada_defaults_to_adaptive_from_zero():
    cfg = AugmentConfig(kind="ada")
    aug, ctrl = build_augment(cfg), build_controller(cfg)
    assert isinstance(aug, AugmentPipe) and aug.p == 0.0 and aug.multipliers["hue"] == 0.5
    assert isinstance(ctrl, AdaptiveProbability) and ctrl.target == 0.6 and ctrl.speed_nimg == 500_000
    assert ctrl.interval == 4


def test_ada_fixed_and_cosine_need_p():
    with pytest.raises(ValueError, match=r"augment\.p"):
        AugmentConfig(kind="ada", p_mode="fixed")
    with pytest.raises(ValueError, match=r"augment\.p"):
        AugmentConfig(kind="ada", p_mode="cosine")
    cfg = AugmentConfig(kind="ada", preset="bgc", p_mode="fixed", p=0.3)
    aug = build_augment(cfg)
    assert aug.p == 0.3 and aug.multipliers["hue"] == 1.0 and aug.multipliers["cutout"] == 0.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "mixup"}, "augment.kind"),
        ({"kind": "ada", "p_mode": "linear"}, "augment.p_mode"),
        ({"kind": "ada", "p": 1.5}, r"\[0, 1\]"),
        ({"kind": "diffaugment", "policy": "color,zoom"}, "DiffAugment policy"),
        ({"kind": "ada", "preset": "fancy"}, "unknown augmentation"),
        ({"kind": "none", "p_mode": "adaptive"}, "kind='none'"),
        ({"kind": "ada", "ada_interval": 0}, "ada_interval"),
    ],
)
def test_validation_names_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AugmentConfig(**kwargs)


def test_builders_revalidate_mutated_configs():
    cfg = AugmentConfig(kind="ada")
    cfg.p_mode = "cosine"  # the lead's dotted overrides set fields after construction
    with pytest.raises(ValueError, match=r"augment\.p"):
        build_augment(cfg)


def test_r3gan_table7_presets():
    cfg = r3gan_augment_config("cifar10")
    assert (cfg.kind, cfg.preset, cfg.mode, cfg.p, cfg.burnin_kimg) == ("ada", "r3gan", "cosine", 0.55, 20_000.0)
    ctrl = build_controller(cfg)
    assert isinstance(ctrl, CosineProbability) and ctrl.p == 0.0
    assert ctrl.update(10_000_000, 512) == pytest.approx(0.275)
    assert r3gan_augment_config("ffhq256").p == 0.15 and r3gan_augment_config("imagenet32").p == 0.5
    assert r3gan_augment_config("stacked-mnist").kind == "none"
    assert r3gan_augment_config("cifar10", kind="diffaugment").kind == "diffaugment"
    assert r3gan_augment_config("cifar10", kind="ada", p_mode="adaptive").mode == "adaptive"
    with pytest.raises(ValueError, match="R3GAN preset"):
        r3gan_augment_config("lsun")


def test_config_round_trips_through_a_dict():
    cfg = AugmentConfig(kind="ada", p_mode="cosine", p=0.4, burnin_kimg=50)
    assert AugmentConfig(**dataclasses.asdict(cfg)) == cfg


@pytest.mark.parametrize("kind", ["diffaugment", "ada"])
def test_augmenter_applies_the_controllers_p_and_reaches_every_image(kind):
    """The training-loop contract: aug.p = ctrl.update(...); reals and fakes both go through aug."""
    cfg = AugmentConfig(kind=kind, p_mode="adaptive", ada_kimg=0.064, ada_interval=1)
    aug, ctrl = build_augment(cfg), build_controller(cfg)
    x = torch.rand(32, 3, 16, 16) * 2 - 1
    assert torch.equal(aug(x), x)  # adaptive starts at p = 0
    aug.p = ctrl.update(32, 32, torch.ones(32))
    assert aug.p == pytest.approx(0.5)
    assert (aug(x) != x).flatten(1).any(1).float().mean() > 0.5
