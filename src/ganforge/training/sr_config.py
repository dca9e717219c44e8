"""The super-resolution part of a training config (`task=sr`): Real-ESRGAN's stage, pairs, networks and loss weights,
plus the training features the SR task cannot combine with, refused when the config is built."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import reduce
from typing import Any, Literal

from ganforge.networks.sr.config import SRDiscConfig, SRNetConfig

Stage = Literal["esrnet", "esrgan"]
# Loss weights a stage uses when left unset (None): Real-ESRGAN's train_realesrnet_x4plus.yml trains with L1 alone,
# train_realesrgan_x4plus.yml with L1 1.0 + perceptual 1.0 + GAN 0.1.
STAGE_WEIGHTS: dict[str, tuple[float, float]] = {"esrnet": (0.0, 0.0), "esrgan": (1.0, 0.1)}
# what `metrics` may ask of SRTask.evaluate (ganforge.metrics.sr: Y channel, border = the scale; fid_crops[@extractor]:
# FID on sr.eval_fid_patch crops, SDAKD's FID); it adds LPIPS on its own as sr.eval_lpips_net says
SR_METRICS = ("psnr", "ssim", "fid_crops")
# LPIPS in the SR evaluations: "auto" = VGG16 when its weights are installed, else left out with one line; a named
# network is required (its weights are checked before training); "none" leaves LPIPS out
EvalLPIPS = Literal["auto", "vgg16", "alexnet", "none"]
UNET_STRIDE = 8  # UNetDiscriminatorSN halves the input three times and adds the skips back: crops are multiples of 8
DistillMethod = Literal["none", "kd", "sdakd"]


@dataclass
class SRDistillConfig:
    """Distillation of a frozen SR teacher into this run's (channel-fraction) networks (`ganforge compress`,
    ganforge.compress.sr_distill). `teacher`: an SR run directory / checkpoint, or generator weights (official .pth
    or ganforge SR .safetensors); `teacher_d`: discriminator weights, default the teacher run's D (a weights file
    has none). kd: one stage, the SR loss plus kd_weight * |G(lr) - G_T(lr)|_1. sdakd (SDAKD Sec. 3.3):
    "stage2" trains G with the SR supervised loss plus the teacher-output term and, at the same time, D to match
    D_T's logits (`d_match`, on HR crops and the `stage2_fakes` outputs); "stage3" adds the GAN term for G and trains
    D adversarially until the run's kimg. stage2_kimg None: half the run's kimg (n2 = n3, SDAKD Sec. 4.2). In both
    sdakd stages G's loss also has mlp_weight * L_MLP (Sec. 3.2; the feature layer: compress.sr_student).
    """

    method: DistillMethod = "none"
    teacher: str = ""
    teacher_d: str = ""
    fraction: float = 1.0  # recorded: the student widths are sr.net / sr.disc
    kd_weight: float = 1.0
    stage2_kimg: float | None = None
    stage2_fakes: Literal["student", "teacher", "both"] = "student"
    d_match: Literal["centred", "sigmoid"] = "centred"
    mlp_weight: float = 1.0  # sdakd: lambda1 of L_MLP (SDAKD Eq. 1 and 3; Sec. 4.2 sets 1); 0 leaves the MLP out
    mlp_hidden: int | None = None  # hidden width of the feature MLP (default: the teacher's feature width)
    eval_lpips_net: EvalLPIPS = "auto"  # LPIPS of the final student/teacher evaluation

    def __post_init__(self) -> None:
        if self.method != "none" and not self.teacher:
            raise ValueError(f"sr.distill.method={self.method} needs sr.distill.teacher (the SR teacher)")
        if not 0 < self.fraction <= 1:
            raise ValueError(f"sr.distill.fraction must be in (0, 1], got {self.fraction}")
        for name in ("kd_weight", "stage2_kimg", "mlp_weight"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"sr.distill.{name} must be >= 0, got {value}")
        if self.mlp_hidden is not None and self.mlp_hidden < 1:
            raise ValueError(f"sr.distill.mlp_hidden must be >= 1 (or null: the teacher's width), got "
                             f"{self.mlp_hidden}")


@dataclass
class SRTrainConfig:
    """Real-ESRGAN (Wang et al. 2021, Sec. 4.1): stage "esrnet" trains G with L1 alone; "esrgan" (initialised from
    an esrnet run with init_from) adds the perceptual and GAN terms against the U-Net discriminator `disc`.

    HR crops come from the run's `data` (a folder, or the built-in "photos"), LR inputs from `degradation` of the
    unsharp-masked (USM) crop if `gt_usm` (Real-ESRGAN always degrades gt_usm). `pool_size` pairs (over all processes,
    a multiple of batch_size; 0 = off) form Real-ESRGAN's training pair pool. The L1, perceptual and GAN terms see
    the USM crop or the plain one as l1_gt_usm / percep_gt_usm / gan_gt_usm say (released: True, True, False).
    perceptual_weight / gan_weight None = the stage's value (STAGE_WEIGHTS). The perceptual network is the offline
    VGG16 with VGG19's layers mapped to it (docs/super_resolution.md), or VGG19 from `perceptual_weights` (or the
    GANFORGE_VGG19_WEIGHTS file), run in `perceptual_precision`. PSNR / SSIM (and LPIPS with `eval_lpips_net`) are
    measured on `eval_pairs` pairs drawn with `eval_seed` from `eval_data` (default: the training photos, other crops
    and degradations).
    """

    stage: Stage = "esrgan"
    crop: int = 256  # HR crop side; the LR input is crop / net.scale
    skip_small: bool = False  # leave out HR photos smaller than the crop instead of refusing the folder
    pool_size: int = 0  # Real-ESRGAN's queue_size: 180 per GPU at 12 pairs per GPU; the presets set it
    degradation: Literal["realesrgan", "bicubic"] = "realesrgan"
    gt_usm: bool = True  # the LR input is degraded from USM(HR), as in Real-ESRGAN (and RealESRNet's gt_usm)
    l1_gt_usm: bool = True  # L1 target USM(HR) (Real-ESRGAN's l1_gt_usm)
    percep_gt_usm: bool = True  # perceptual target USM(HR) (percep_gt_usm)
    gan_gt_usm: bool = False  # D's real input USM(HR) (gan_gt_usm); the released options show D the plain crop
    net: SRNetConfig = field(default_factory=SRNetConfig)
    disc: SRDiscConfig = field(default_factory=SRDiscConfig)
    pixel_weight: float = 1.0
    perceptual_weight: float | None = None
    gan_weight: float | None = None
    perceptual_net: Literal["vgg16", "vgg19"] = "vgg16"
    perceptual_weights: str | None = None
    perceptual_precision: Literal["fp32", "bf16", "auto"] = "fp32"  # the VGG trunk under BF16 autocast (auto: native)
    eval_data: str | None = None
    eval_pairs: int = 16
    eval_seed: int = 1_000_000
    eval_lpips_net: EvalLPIPS = "auto"  # LPIPS next to PSNR / SSIM in the periodic evaluations (EvalLPIPS)
    eval_fid_patch: int = 32  # HR side of the crops metrics=[fid_crops] cuts the held-out pairs into
    eval_fid_size: int | None = None  # the side the FID extractor sees them at (vgg16/alexnet; None: its default)
    distill: SRDistillConfig = field(default_factory=SRDistillConfig)

    def weights(self) -> tuple[float, float, float]:
        """(pixel, perceptual, GAN) weights with the stage's defaults filled in."""
        percep, gan = STAGE_WEIGHTS[self.stage]
        return (self.pixel_weight, percep if self.perceptual_weight is None else self.perceptual_weight,
                gan if self.gan_weight is None else self.gan_weight)

    def __post_init__(self) -> None:
        if self.pool_size < 0:
            raise ValueError(f"sr.pool_size must be >= 0 (0 turns the training pair pool off), got {self.pool_size}")
        if self.crop % self.net.scale:
            raise ValueError(f"sr.crop {self.crop} is not a multiple of sr.net.scale {self.net.scale}")
        if self.net.num_in_ch != 3 or self.net.num_out_ch != 3 or self.disc.num_in_ch != 3:
            raise ValueError("the training pairs are RGB: sr.net.num_in_ch, sr.net.num_out_ch and sr.disc.num_in_ch "
                             "must be 3")
        _, _, gan = self.weights()
        if self.stage == "esrnet" and gan > 0:
            raise ValueError(f"sr.stage=esrnet trains without a discriminator, but sr.gan_weight={gan}; set "
                             "sr.stage=esrgan (usually with init_from the esrnet run) or sr.gan_weight=0")
        if gan > 0 and self.crop % UNET_STRIDE:
            raise ValueError(f"sr.crop {self.crop}: the U-Net discriminator needs HR crops that are multiples of "
                             f"{UNET_STRIDE}; use {self.crop - self.crop % UNET_STRIDE or UNET_STRIDE}")
        if self.eval_fid_patch < 1:
            raise ValueError(f"sr.eval_fid_patch must be >= 1, got {self.eval_fid_patch}")
        if sum(self.weights()) <= 0:
            raise ValueError("sr.pixel_weight, sr.perceptual_weight and sr.gan_weight are all 0: nothing to train")


def check_sr_task(cfg: Any) -> None:
    """ValueError naming the first TrainConfig setting the SR task does not support (it would be silently ignored)."""
    if cfg.task != "sr":
        return
    unsupported = [("conditional", cfg.conditional, "false"), ("self_distill", cfg.self_distill, "false"),
                   ("d_aux", bool(cfg.d_aux), "[]"), ("d_arch", cfg.d_arch != "r3gan", "r3gan"),
                   ("loss.r1", cfg.loss.r1, "false"), ("loss.r2", cfg.loss.r2, "false"),
                   ("augment.kind", cfg.augment.kind != "none", "none"), ("precision", cfg.precision == "bf16", "fp32"),
                   ("data_size", cfg.data_size is not None, "null"),
                   ("data_resolution", cfg.data_resolution is not None, "null"), ("net.pack", cfg.net.pack != 1, "1")]
    for key, bad, fix in unsupported:
        if bad:
            value = reduce(getattr, key.split("."), cfg)
            raise ValueError(f"task=sr does not support {key}={value}; set {key}={fix} (the SR recipe: "
                             "docs/super_resolution.md, Training)")
    pool, batch = cfg.sr.pool_size, cfg.batch_size
    if pool % batch:  # the released code asserts queue_size % batch == 0: whole batches go in and out
        lo, hi = pool - pool % batch, pool + batch - pool % batch
        raise ValueError(f"sr.pool_size {pool} is not a multiple of batch_size {batch}: the training pair pool swaps "
                         f"whole batches; set sr.pool_size={lo or hi}" + (f" or {hi}" if lo else "") +
                         " (or 0 to turn the pool off), or change batch_size")


__all__ = ["SR_METRICS", "STAGE_WEIGHTS", "DistillMethod", "EvalLPIPS", "SRDistillConfig", "SRTrainConfig", "Stage",
           "check_sr_task"]
