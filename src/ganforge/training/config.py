"""The full training configuration: one dataclass tree, saved as JSON in every run directory."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Literal

from ganforge.augment.config import AugmentConfig
from ganforge.distill.self_distill import SelfDistillConfig
from ganforge.networks.config import NetworkConfig
from ganforge.networks.pretrained_config import AuxDConfig, ProjectedConfig
from ganforge.training.ema import extra_ema_label
from ganforge.training.sr_config import SRTrainConfig, check_sr_task
from ganforge.training.validate import check_style_recipe, validate_config


@dataclass
class ScheduleConfig:
    """Burn-in cosine schedules, start -> end over burnin_kimg (R3GAN App. J, Table 7)."""

    burnin_kimg: float = 2000.0
    lr_start: float = 2e-4
    lr_end: float = 2e-4
    gamma_start: float = 1.0
    gamma_end: float = 0.1
    beta1: float = 0.0  # Adam beta1: R3GAN uses 0; Real-ESRGAN 0.9
    beta2_start: float = 0.9
    beta2_end: float = 0.99
    ema_halflife_kimg_start: float = 0.0
    ema_halflife_kimg_end: float = 500.0
    d_lr_ratio: float = 1.0  # D learning rate = ratio x G learning rate (TTUR, Heusel et al. 2017); R3GAN uses 1
    # EMA ramp-up (StyleGAN2-ADA): the half-life is at most ema_rampup x the images seen so far; 0 = off (R3GAN).
    # The official configs use 0.05 (auto, cifar). Fine-tuning (init_from) sets it to 0, as the official resume does.
    ema_rampup: float = 0.0
    # Extra EMAs of G for comparing EMA lengths on one run (evaluation only, never fed back into training): each entry
    # h (kimg) adds G_ema_h<h> to every checkpoint, on the main half-life schedule scaled to end at h.
    ema_extra_kimg: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        bad = [h for h in self.ema_extra_kimg if not (isinstance(h, (int, float)) and math.isfinite(h) and h > 0)]
        if bad:
            raise ValueError(f"schedule.ema_extra_kimg={self.ema_extra_kimg}: every entry must be a positive finite "
                             f"half-life in kimg (not {bad[0]})")
        labels = [extra_ema_label(h) for h in self.ema_extra_kimg]
        if len(set(labels)) != len(labels):
            raise ValueError(f"schedule.ema_extra_kimg={self.ema_extra_kimg} names an EMA twice; drop the duplicate")


@dataclass
class LossConfig:
    name: Literal["rpgan", "nsgan", "hinge"] = "rpgan"
    r1: bool = True
    r2: bool = True
    penalty_fp32: bool = True  # with bf16 networks, run the D step that carries R1/R2 in FP32
    # Lazy regularisation (StyleGAN2 Sec. 3.5): R1/R2 only every r_every-th D step, weighted by r_every so the
    # expected penalty is unchanged; 1 = every step, as R3GAN does. The penalty is about a third of a step's cost.
    r_every: int = 1
    # StyleGAN2 recipe (net.arch=stylegan2/stylegan3; ganforge.training.stylegan_recipe). Path-length
    # regularisation (StyleGAN2 Sec. 3.2, Eq. 4): weight (official 2; 0 = off), decay of the running mean of the
    # lengths, batch divided by pl_batch_shrink, lazy every pl_every G steps weighted by pl_every (Sec. 3.5).
    pl_weight: float = 0.0
    pl_decay: float = 0.01
    pl_batch_shrink: int = 2
    pl_every: int = 4
    # Style mixing regularisation (StyleGAN Sec. 3.1): with this probability a training image takes the ws after a
    # random cutoff from a second latent (official 0.9; 0 = off). Sampling and evaluation never mix.
    style_mixing: float = 0.0

    def __post_init__(self) -> None:
        if int(self.r_every) != self.r_every or self.r_every < 1:
            raise ValueError(f"loss.r_every must be an integer >= 1 (1 = R1/R2 every D step), got {self.r_every}")


@dataclass
class TrainConfig:
    preset: str = "tiny"
    # generate: unconditional / class-conditional image GANs; sr: super-resolution (Real-ESRGAN's recipe, settings in
    # `sr`, HR photos from `data`; ganforge.training.sr_task)
    task: Literal["generate", "sr"] = "generate"
    data: str = "stacked-mnist"
    data_size: int | None = None  # stacked-mnist: images generated; other data: fixed random subset
    data_root: str | None = None
    data_resolution: int | None = None  # resize every image of a folder/zip to NxN (Lanczos) when loading
    xflip: bool = False
    conditional: bool = False  # class-conditional G and projection D from the data's labels
    skip_bad_images: bool = False
    out: str = "runs/default"
    init_from: str | None = None  # fine-tune: start G, G_ema and D from this checkpoint (SD-GAN Sec. 4.1)
    kimg: float = 50.0
    batch_size: int = 32
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:1 | mps
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 on CUDA, fp32 elsewhere
    # Speed levers, off by default; benchmarks/train_step.py --config times them against a baseline on your machine.
    # channels_last: G, D and their inputs in NHWC memory format (PyTorch "Channels Last Memory Format" tutorial).
    channels_last: bool = False
    # compile: torch.compile (PyTorch 2, Ansel et al., ASPLOS 2024) on G and on D's forward in the G step; the D step
    # feeding R1/R2 stays eager, since torch.compile's AOTAutograd cannot do the penalty's double backward. StyleGAN
    # generators compile their synthesis only: style mixing acts on the eager mapping (training.speed).
    compile: bool = False
    net: NetworkConfig = field(default_factory=NetworkConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    self_distill: bool = False  # SD-GAN: add alpha * L_SD(T(G(z)), T(G_ema(z))) to L_G (sd.alpha=0 only logs it)
    sd: SelfDistillConfig = field(default_factory=SelfDistillConfig)
    # Discriminators on frozen pretrained backbones (docs/pretrained_discriminators.md). d_arch=projected replaces
    # R3GAN's D by a Projected GAN D (settings in `projected`, hinge loss); d_aux adds vision-aided Ds beside the
    # main D, e.g. d_aux='[{"backbone": "vgg16", "warmup_kimg": 20}]' or the shorthand d_aux=vgg16,clip.
    d_arch: Literal["r3gan", "projected"] = "r3gan"
    projected: ProjectedConfig = field(default_factory=ProjectedConfig)
    d_aux: list[AuxDConfig] = field(default_factory=list)
    sr: SRTrainConfig = field(default_factory=SRTrainConfig)
    log_every_kimg: float = 1.0
    snapshot_every_kimg: float = 10.0
    keep_checkpoints: int = 3
    grid_size: int = 64
    metrics: list[str] = field(default_factory=list)  # e.g. ["fid@classifier-mnist", "kid", "modes"]
    metrics_every_kimg: float = 0.0  # 0: only at the end of the run (when metrics are given)
    metrics_num: int = 5000
    metrics_features: str = "inception"  # extractor for fid/kid/pr/dc without an @suffix (e.g. vgg16 offline)
    metrics_weights: str | None = None  # weights file for that extractor (e.g. the FID Inception .pth)
    best_metric: str = ""  # a result key, e.g. "fid@vgg16": the best checkpoint by it is kept in best/
    max_nonfinite_skips: int = 20
    max_rollbacks: int = 2

    def __post_init__(self) -> None:
        validate_config(self, run_post_init=False)  # types and ranges of every field (ganforge.training.validate)
        if self.channels_last and self.compile:  # inductor (torch 2.14, CPU) fails its stride check in D's backward
            raise ValueError("channels_last=true with compile=true fails in torch.compile's backward of D's "
                             "replicate padding; choose one of the two")
        if self.d_arch == "projected" and self.loss.name != "hinge":  # Sauer et al. 2021 train with the hinge loss
            raise ValueError(f"d_arch=projected trains with the hinge loss; set loss.name=hinge (is {self.loss.name})")
        check_sr_task(self)
        check_style_recipe(self)


def to_dict(cfg: TrainConfig) -> dict:
    return dataclasses.asdict(cfg)
