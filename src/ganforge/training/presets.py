"""Named presets: R3GAN Table 7 exactly, small CPU presets with the same topology, and Real-ESRGAN super-resolution
recipes (task=sr): the released x4plus options and small CPU versions."""

from __future__ import annotations

import copy
import math
import re

from ganforge.augment.config import AugmentConfig, r3gan_augment_config
from ganforge.networks.config import NetworkConfig
from ganforge.networks.sr.config import SRDiscConfig, SRNetConfig
from ganforge.training.config import LossConfig, ScheduleConfig, TrainConfig
from ganforge.training.overrides import ConfigError
from ganforge.training.sr_config import SRTrainConfig, Stage


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
    """tiny with 64 channels at 16x16 and 32 at 32x32 for three-channel data, its lr decay and EMA stretched to a
    longer run; 1,050 kimg is the 120-minute curve of docs/time_to_quality.md (886 Stacked MNIST modes, reverse KL
    0.62, where tiny plateaus at ~700)."""
    cfg = copy.deepcopy(PRESETS["tiny"])
    cfg.preset, cfg.data, cfg.kimg = "tiny-wide", "stacked-mnist", 1050
    cfg.net = NetworkConfig(**{**vars(cfg.net), "widths": [64, 64, 64, 32], "cardinalities": [8, 8, 8, 4]})
    cfg.schedule.burnin_kimg, cfg.schedule.ema_halflife_kimg_end = 300, 5.0
    return cfg


PRESETS["tiny-wide"] = _tiny_wide()


def _tiny_dwide() -> TrainConfig:
    """tiny's G with tiny-wide's D (net.d_widths), class-conditional, lr decay over 300 kimg; 312 kimg is the
    30-minute mnist5k curve of docs/time_to_quality.md (FID@classifier 2.7x and 3.1x the real floor in two seeds;
    both nets wide: 3.5x)."""
    cfg = copy.deepcopy(PRESETS["tiny"])
    cfg.preset, cfg.kimg, cfg.conditional = "tiny-dwide", 312, True
    wide = PRESETS["tiny-wide"].net
    cfg.net = NetworkConfig(**{**vars(cfg.net), "d_widths": list(wide.widths),
                               "d_cardinalities": list(wide.cardinalities)})
    cfg.schedule.burnin_kimg, cfg.schedule.ema_halflife_kimg_end = 300, 6.0
    return cfg


PRESETS["tiny-dwide"] = _tiny_dwide()


def _tiny_wide_d128() -> TrainConfig:
    """tiny-wide's G with a D twice tiny-wide's width (128 channels to 16x16, 64 at 32x32): the 120-minute Stacked
    MNIST curve of docs/time_to_quality.md (950 of 1,000 modes from 40 minutes on, where tiny-wide reached 886 at
    120), each step 1.35x tiny-wide's; 616 kimg is that curve's length."""
    cfg = copy.deepcopy(PRESETS["tiny-wide"])
    cfg.preset, cfg.kimg = "tiny-wide-d128", 616
    cfg.net = NetworkConfig(**{**vars(cfg.net), "d_widths": [128, 128, 128, 64], "d_cardinalities": [16, 16, 16, 8]})
    return cfg


PRESETS["tiny-wide-d128"] = _tiny_wide_d128()


def _tiny_g96_d128() -> TrainConfig:
    """tiny-wide-d128 with a G half again as wide (96 channels to 16x16, 48 at 32x32): the best 120-minute Stacked
    MNIST curve of docs/time_to_quality.md (two seeds on an AVX-512 CPU: 948 and 961 modes, reverse KL 0.37 and
    0.33, FID@classifier 4.6 and 4.8, where tiny-wide-d128 reached 0.46); 1,582 kimg is seed 0's length (about 6
    hours on the 2-core AVX2 CPU, which trained 438 kimg in 100 minutes)."""
    cfg = copy.deepcopy(PRESETS["tiny-wide-d128"])
    cfg.preset, cfg.kimg = "tiny-g96-d128", 1582
    cfg.net = NetworkConfig(**{**vars(cfg.net), "widths": [96, 96, 96, 48], "cardinalities": [12, 12, 12, 6]})
    return cfg


PRESETS["tiny-g96-d128"] = _tiny_g96_d128()


def ema_halflife_kimg(decay: float, batch_size: int) -> float:
    """The half-life (kimg) of a per-step EMA decay at this batch size: decay^(h / B) = 1/2."""
    return batch_size * math.log(0.5) / math.log(decay) / 1000


POOL_BATCHES = 180 // 12  # Real-ESRGAN's queue_size 180 over its 12 pairs per GPU


def _sr(name: str, stage: Stage, net: SRNetConfig, disc: SRDiscConfig, crop: int, batch_size: int, kimg: float,
        metrics_every_kimg: float, log_every_kimg: float, snapshot_every_kimg: float, ema_decay: float = 0.999
        ) -> TrainConfig:
    """Real-ESRGAN's recipe (train_realesrnet_x4plus.yml / train_realesrgan_x4plus.yml): Adam (0.9, 0.99) at lr 2e-4
    for ESRNet and 1e-4 for G and D of ESRGAN, constant; EMA decay 0.999 per step (as a half-life at this batch
    size); vanilla GAN loss, no penalties; horizontal flips; LR degraded from the USM-sharpened HR, L1 and perceptual
    against it, D on the plain HR (SRTrainConfig's defaults); a training pair pool of 15 batches (queue_size 180 at
    12 pairs per GPU); PSNR / SSIM on held-out pairs."""
    lr = 2e-4 if stage == "esrnet" else 1e-4
    ema = ema_halflife_kimg(ema_decay, batch_size)
    return TrainConfig(
        preset=name, task="sr", data="photos", xflip=True, kimg=kimg, batch_size=batch_size,
        sr=SRTrainConfig(stage=stage, crop=crop, net=net, disc=disc, pool_size=POOL_BATCHES * batch_size),
        loss=LossConfig(name="nsgan", r1=False, r2=False),
        schedule=ScheduleConfig(burnin_kimg=0, lr_start=lr, lr_end=lr, beta1=0.9, beta2_start=0.99, beta2_end=0.99,
                                ema_halflife_kimg_start=ema, ema_halflife_kimg_end=ema),
        metrics=["psnr", "ssim"], metrics_every_kimg=metrics_every_kimg, log_every_kimg=log_every_kimg,
        snapshot_every_kimg=snapshot_every_kimg)


# Real-ESRGAN x4plus as released: RRDBNet (64 features, 23 blocks), 256 crops, 4 GPUs x 12 = batch 48 (pair pool 720:
# queue_size 180 on each GPU); 1M ESRNet and 400k ESRGAN iterations; validation every 5k iterations.
for _stage, _iters in (("esrnet", 1_000_000), ("esrgan", 400_000)):
    _name = f"real{_stage}-x4plus"
    PRESETS[_name] = _sr(_name, _stage, SRNetConfig(arch="rrdb"), SRDiscConfig(), crop=256, batch_size=48,
                         kimg=_iters * 48 / 1000, metrics_every_kimg=5_000 * 48 / 1000, log_every_kimg=4.8,
                         snapshot_every_kimg=240)
# CPU presets: a small SRVGGNetCompact x4 on 32 px HR crops of the built-in photos (sr-tiny-esrnet, then sr-tiny
# with --init-from the esrnet run); EMA decay 0.99, since 0.999 would average over most of so short a run
for _stage, _name, _kimg in (("esrnet", "sr-tiny-esrnet", 16), ("esrgan", "sr-tiny", 8)):
    PRESETS[_name] = _sr(_name, _stage, SRNetConfig(num_feat=16, num_conv=4), SRDiscConfig(num_feat=16), crop=32,
                         batch_size=8, kimg=_kimg, metrics_every_kimg=_kimg / 4, log_every_kimg=0.4,
                         snapshot_every_kimg=_kimg / 4, ema_decay=0.99)

for _name in ("stacked-mnist", "cifar10", "ffhq256", "imagenet32"):
    # Table 7 augmentation: R3GAN pipeline, probability cosine 0 -> target over the burn-in (none on Stacked MNIST)
    PRESETS[_name].augment = r3gan_augment_config(_name)


# StyleGAN2-ADA: the `--cfg` specs of NVlabs/stylegan2-ada-pytorch train.py (cfg_specs) with what that script and
# training/training_loop.py fix for every spec: z and w 512, channel_max 512, 4 fp16 resolutions with conv_clamp 256
# (ganforge runs them in fp32 unless force_fp32 is turned off), Adam (0, 0.99) for G and D at the same lr,
# the non-saturating loss, R1 only, lazy every 16 D steps (gamma x 16), path length 2 lazy every 4 G steps, style
# mixing 0.9, ADA with the bgc pipeline and target 0.6, EMA half-life `ema` kimg with ramp-up `ramp`. The official
# lazy steps are extra optimizer steps, so it scales lr and betas by interval / (interval + 1); ganforge adds the
# penalties to the main step (no extra steps), so the spec's lr and beta2 apply unchanged.
def _sg2(name: str, data: str, resolution: int, kimg: float, mb: int, mbstd: int, fmaps: float, lrate: float,
         gamma: float, ema: float, ramp: float | None, map_layers: int, pl_weight: float = 2.0,
         style_mixing: float = 0.9, d_architecture: str = "resnet") -> TrainConfig:
    arch = {"img_resolution": resolution, "channel_base": int(fmaps * 32768), "channel_max": 512,
            "mapping_layers": map_layers, "num_fp16_res": 4, "conv_clamp": 256, "mbstd_group_size": mbstd,
            "d_architecture": d_architecture}
    return TrainConfig(
        preset=name, data=data, kimg=kimg, batch_size=mb,
        net=NetworkConfig(arch="stylegan2", z_dim=512, arch_kwargs=arch),
        loss=LossConfig(name="nsgan", r1=True, r2=False, r_every=16, pl_weight=pl_weight, pl_every=4,
                        style_mixing=style_mixing),
        schedule=ScheduleConfig(burnin_kimg=0, lr_start=lrate, lr_end=lrate, gamma_start=gamma, gamma_end=gamma,
                                beta1=0.0, beta2_start=0.99, beta2_end=0.99, ema_halflife_kimg_start=ema,
                                ema_halflife_kimg_end=ema, ema_rampup=ramp or 0.0),
        augment=AugmentConfig(kind="ada", preset="bgc", ada_target=0.6, ada_kimg=500, ada_interval=4),
        log_every_kimg=4, snapshot_every_kimg=200)  # official ticks of 4 kimg, snapshots every 50 ticks


def sg2_auto(resolution: int, gpus: int = 1) -> TrainConfig:
    """The official `auto` spec, which depends on the data's resolution and the GPU count (train.py: batch
    max(min(gpus * min(4096 // res, 32), 64), gpus), mbstd min(batch // gpus, 4), fmaps 1 from 512 px else 0.5,
    lr 0.002 from 1024 px else 0.0025, gamma 0.0002 res^2 / batch, EMA batch * 10 / 32 kimg, ramp-up 0.05, 2
    mapping layers). `--preset sg2-auto-RES` builds it for one process (ganforge's batch_size is global);
    `sg2-auto` is 256 px. The trainer's resolution check names the preset of the data's resolution."""
    mb = max(min(gpus * min(4096 // resolution, 32), 64), gpus)
    name = "sg2-auto" if (resolution, gpus) == (256, 1) else f"sg2-auto-{resolution}"
    return _sg2(name, "ffhq", resolution, kimg=25_000, mb=mb, mbstd=min(mb // gpus, 4),
                fmaps=1.0 if resolution >= 512 else 0.5, lrate=0.002 if resolution >= 1024 else 0.0025,
                gamma=0.0002 * resolution**2 / mb, ema=mb * 10 / 32, ramp=0.05, map_layers=2)


def _sg2_cpu() -> TrainConfig:
    """sg2-auto at 32x32 (batch 32, gamma 0.0064, EMA 10 kimg with ramp-up 0.05) on mnist5k, with CPU widths:
    z and w 64, channels 64 up to 16x16 and 32 at 32x32, all in fp32 (G 0.26M, D 0.29M parameters). A step of
    32 images took 0.89 s of one thread's CPU time at the start of training (ADA p near 0), ~14 CPU minutes for
    30 kimg."""
    cfg = sg2_auto(32)
    cfg.preset, cfg.data, cfg.kimg = "sg2-cpu", "mnist5k", 30
    cfg.net.z_dim = 64
    cfg.net.arch_kwargs.update(w_dim=64, channel_base=1024, channel_max=64, num_fp16_res=0, conv_clamp=None)
    cfg.log_every_kimg, cfg.snapshot_every_kimg = 1, 16
    return cfg


def _sg2_cpu_rpgan() -> TrainConfig:
    """sg2-cpu with R3GAN's loss in place of the official one: RpGAN + R1 + R2 at gamma 1, every 4th D step (R3GAN
    Eq. 2-4). At these widths the official non-saturating loss with R1 at gamma 0.0064 collapses to one digit within
    20 kimg (docs/stylegan2.md); everything else (networks, path length, style mixing, ADA, lr, EMA) is sg2-cpu's."""
    cfg = _sg2_cpu()
    cfg.preset = "sg2-cpu-rpgan"
    cfg.loss.name, cfg.loss.r2, cfg.loss.r_every = "rpgan", True, 4
    cfg.schedule.gamma_start = cfg.schedule.gamma_end = 1.0
    return cfg


PRESETS.update({
    "sg2-paper256": _sg2("sg2-paper256", "ffhq", 256, kimg=25_000, mb=64, mbstd=8, fmaps=0.5, lrate=0.0025,
                         gamma=1.0, ema=20, ramp=None, map_layers=8),
    # cifar: no path length, no style mixing, D without residual connections (train.py's cifar branch)
    "sg2-cifar": _sg2("sg2-cifar", "cifar10", 32, kimg=100_000, mb=64, mbstd=32, fmaps=1.0, lrate=0.0025,
                      gamma=0.01, ema=500, ramp=0.05, map_layers=2, pl_weight=0.0, style_mixing=0.0,
                      d_architecture="orig"),
    "sg2-auto": sg2_auto(256),
    "sg2-cpu": _sg2_cpu(),
    "sg2-cpu-rpgan": _sg2_cpu_rpgan(),
})
_SG2_AUTO = re.compile(r"^sg2-auto-(\d+)$")


class UnknownPreset(ConfigError, KeyError):
    """A preset name that does not exist: a one-line CLI error (ConfigError), still a KeyError for callers."""

    def __str__(self) -> str:
        return str(self.args[0])


def get_preset(name: str) -> TrainConfig:
    """A fresh copy of a named preset; sg2-auto-RES builds the official `auto` spec at RES x RES (sg2_auto)."""
    if (m := _SG2_AUTO.match(name)) and int(m[1]) >= 4 and not int(m[1]) & (int(m[1]) - 1):
        return sg2_auto(int(m[1]))
    if name not in PRESETS:
        raise UnknownPreset(f"unknown preset '{name}'; choose one of {', '.join(PRESETS)} or sg2-auto-RES (RES a "
                            "power of two)")
    return copy.deepcopy(PRESETS[name])


__all__ = ["PRESETS", "LossConfig", "get_preset", "sg2_auto"]
