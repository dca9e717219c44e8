"""Named presets: R3GAN Table 7 exactly, plus small CPU presets with the same topology."""

from __future__ import annotations

import copy

from ganforge.augment.config import r3gan_augment_config
from ganforge.networks.config import NetworkConfig
from ganforge.training.config import LossConfig, ScheduleConfig, TrainConfig


def _r3gan_32(num_classes: int, widths: int = 768, cards: int = 96) -> NetworkConfig:
    return NetworkConfig(widths=[widths] * 4, blocks=[2] * 4, cardinalities=[cards] * 4, num_classes=num_classes)


PRESETS: dict[str, TrainConfig] = {
    # R3GAN Table 7. kimg is the full duration; batch sizes are global (split over GPUs).
    "stacked-mnist": TrainConfig(
        preset="stacked-mnist", data="stacked-mnist", kimg=10_000, batch_size=512, net=_r3gan_32(0),
        schedule=ScheduleConfig(burnin_kimg=2_000, lr_start=2e-4, lr_end=2e-4, gamma_start=1.0, gamma_end=0.1,
                                ema_halflife_kimg_end=500)),
    "cifar10": TrainConfig(
        preset="cifar10", data="cifar10", conditional=True, kimg=200_000, batch_size=512, xflip=True, net=_r3gan_32(10),
        schedule=ScheduleConfig(burnin_kimg=20_000, lr_start=2e-4, lr_end=5e-5, gamma_start=0.05, gamma_end=0.005,
                                ema_halflife_kimg_end=5_000)),
    "ffhq256": TrainConfig(
        preset="ffhq256", data="ffhq", kimg=150_000, batch_size=256, xflip=True,
        net=NetworkConfig(widths=[768, 768, 768, 768, 384, 192, 96], blocks=[2] * 7,
                          cardinalities=[96, 96, 96, 96, 48, 24, 12]),
        schedule=ScheduleConfig(burnin_kimg=20_000, lr_start=2e-4, lr_end=5e-5, gamma_start=500.0, gamma_end=50.0,
                                ema_halflife_kimg_end=500)),
    "imagenet32": TrainConfig(
        preset="imagenet32", data="imagenet", conditional=True, kimg=700_000, batch_size=4096, xflip=True,
        net=_r3gan_32(1000, widths=1536, cards=96),
        schedule=ScheduleConfig(burnin_kimg=200_000, lr_start=2e-4, lr_end=5e-5, gamma_start=0.5, gamma_end=0.05,
                                ema_halflife_kimg_end=50_000)),
    # CPU presets: the Config E topology, sized and tuned for time-to-quality on a 2-core CPU (docs/time_to_quality.md):
    # widths halve at 16x16 and 32x32 (3.9x fewer FLOPs than 64 throughout), lr 2e-3 decaying to 2e-4 over
    # 120 kimg, lazy R1/R2 every 4 D steps (StyleGAN2 Sec. 3.5), minibatch-std (ProGAN Sec. 3) and packing of 4
    # samples (PacGAN) in D against mode collapse, NHWC memory format.
    "tiny": TrainConfig(
        preset="tiny", data="mnist5k", kimg=140, batch_size=32, channels_last=True,
        net=NetworkConfig(widths=[64, 64, 32, 16], blocks=[1] * 4, cardinalities=[8, 8, 4, 2], mbstd_group=4,
                          pack=4),
        loss=LossConfig(r_every=4),
        schedule=ScheduleConfig(burnin_kimg=120, lr_start=2e-3, lr_end=2e-4, gamma_start=1.0, gamma_end=0.1,
                                ema_halflife_kimg_start=0.0, ema_halflife_kimg_end=2.0),
        log_every_kimg=1, snapshot_every_kimg=16),
    "small": TrainConfig(
        preset="small", data="stacked-mnist", kimg=200, batch_size=64,
        net=NetworkConfig(widths=[128] * 4, blocks=[2] * 4, cardinalities=[16] * 4),
        schedule=ScheduleConfig(burnin_kimg=50, lr_start=2e-4, lr_end=2e-4, gamma_start=1.0, gamma_end=0.1,
                                ema_halflife_kimg_end=10.0),
        log_every_kimg=2, snapshot_every_kimg=20),
}



def _tiny_wide() -> TrainConfig:
    """tiny with 64 channels at 16x16 and 32 at 32x32 for three-channel data, its lr decay and EMA stretched to a run
    of ~80 minutes: Stacked MNIST reaches 867 modes in 60 minutes where tiny plateaus at ~700
    (docs/time_to_quality.md)."""
    cfg = copy.deepcopy(PRESETS["tiny"])
    cfg.preset, cfg.data, cfg.kimg = "tiny-wide", "stacked-mnist", 600
    cfg.net = NetworkConfig(**{**vars(cfg.net), "widths": [64, 64, 64, 32], "cardinalities": [8, 8, 8, 4]})
    cfg.schedule.burnin_kimg, cfg.schedule.ema_halflife_kimg_end = 300, 5.0
    return cfg


PRESETS["tiny-wide"] = _tiny_wide()

for _name in ("stacked-mnist", "cifar10", "ffhq256", "imagenet32"):
    # Table 7 augmentation: R3GAN pipeline, probability cosine 0 -> target over the burn-in (none on Stacked MNIST)
    PRESETS[_name].augment = r3gan_augment_config(_name)


def get_preset(name: str) -> TrainConfig:
    """A fresh copy of a named preset."""
    if name not in PRESETS:
        raise KeyError(f"unknown preset '{name}'; choose one of {', '.join(PRESETS)}")
    return copy.deepcopy(PRESETS[name])


__all__ = ["PRESETS", "LossConfig", "get_preset"]
