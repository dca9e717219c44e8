"""Configuration of a compression run: one dataclass tree, saved as compress.json in the run directory."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal, get_args

from ganforge.training.validate import validate_config

Method = Literal["sdakd", "nickel-dime", "kd"]
Init = Literal["auto", "teacher", "random"]
Stage2Fakes = Literal["student", "teacher", "both"]
DMatch = Literal["centred", "sigmoid"]
DimeMode = Literal["global-moments-ext", "paired"]
StudentRecipeChoice = Literal["teacher", "none"]
METHODS: tuple[str, ...] = get_args(Method)
INIT_CHOICES: tuple[str, ...] = get_args(Init)
DIME_MODES: tuple[str, ...] = get_args(DimeMode)
# the student initialisation each method's paper uses: SDAKD Sec. 3.3 trains "randomly-initialized student
# networks"; NICKEL & DiME (Sec. 4.1) and CAGC start from the teacher's pruned weights
PAPER_INIT: dict[str, str] = {"sdakd": "random", "nickel-dime": "teacher", "kd": "teacher"}


@dataclass
class SupConfig:
    """L_sup between student and teacher images for the same z: l1 * L1 + lpips * LPIPS (SDAKD Sec. 4.2)."""

    l1: float = 1.0
    lpips: float = 1.0
    lpips_net: str = "vgg16"  # vgg16 | alexnet
    lpips_weights: str | None = None  # explicit backbone weights (else ganforge.perceptual's offline search)


@dataclass
class SDAKDConfig:
    """SDAKD stages 2 and 3 (Sec. 3.3); stage kimg default to half of the run's kimg each (n2 = n3, Sec. 4.2)."""

    stage2_kimg: float | None = None
    stage3_kimg: float | None = None
    lambda1: float = 1.0  # L_MLP weight (Eq. 1, 3)
    lambda2: float = 0.1  # L_adv weight (Eq. 3)
    mlp_hidden: int | None = None  # hidden width of the feature MLP (default: the teacher's width)
    stage2_fakes: Stage2Fakes = "student"  # generated images D_S is matched on in stage 2
    # stage 2's D_S target (Eq. 2): "centred" = L2 between D_S's and D_T's logits, each minus its batch mean
    # (offset-free, as RpGAN logits are); "sigmoid" = the paper's L2 between sigmoid(logit)s, which saturates
    # when the teacher's logits drift far from 0 (only sensible for a calibrated, non-relativistic D_T)
    d_match: DMatch = "centred"


@dataclass
class NickelDimeConfig:
    """NICKEL & DiME (Sec. 3): embedding distillation, teacher-G -> student-D feature matching, two critics."""

    embeddings: list[str] = field(default_factory=lambda: ["dino:20", "clip:15"])  # name:lambda (Eq. 3)
    # paired: Eq. 1 as written, L1 between phi(G_T(z)) and phi(G_S(z)) for the same z. global-moments-ext: a
    # ganforge extension reading Sec. 4.5's "global features" as the teacher's precomputed embedding mean and
    # second moment, matched by the student's batch moments (the paper gives no formula for it)
    dime_mode: DimeMode = "global-moments-ext"
    teacher_stats: str | None = None  # statistics file (default <out>/teacher_stats.safetensors, made if absent)
    stats_num: int = 20_000
    stats_batch_size: int = 256
    embed_size: int | None = None  # input side for the embedders (default: each one's own, e.g. 224)
    dino_weights: str | None = None
    clip_weights: str | None = None
    lambda_nickel: float = 10.0
    nickel_resolutions: list[int] = field(default_factory=list)  # empty: [resolution // 4] (Sec. 4.1)
    wavelet_levels: int = 3
    adv_teacher_weight: float = 1.0  # G_S's adversarial term against D_T
    adv_student_weight: float = 1.0  # ... and against D_S
    train_teacher_d: bool = True  # D_T keeps training against G_S (the authors' code does)


@dataclass
class KDConfig:
    """Plain output distillation (CAGC-style baseline): L_sup only, optionally plus an adversarial term."""

    adv_weight: float = 0.0  # > 0 adds adversarial training against a student-width D


@dataclass
class CompressConfig:
    method: Method = "sdakd"
    teacher: str = ""  # run dir / checkpoint dir of the teacher (G_ema is the teacher generator, D its critic)
    fraction: float = 0.25
    # auto: the method's paper (PAPER_INIT: random for sdakd, teacher for nickel-dime and kd); teacher: largest-L1
    # channels of the teacher; a choice other than the paper's is reported as its own arm (arm_name)
    init: Init = "auto"
    out: str = "runs/compress"
    data: str | None = None  # default: the teacher's training data
    data_size: int | None = None
    kimg: float = 10.0  # student training length (all stages together)
    batch_size: int = 32
    seed: int = 0
    device: str = "auto"
    lr: float = 2e-4
    beta1: float = 0.0
    beta2: float = 0.99
    gamma: float | None = None  # R1/R2 weight; default: the teacher's final gamma
    # teacher: a StyleGAN2 teacher's student trains with the teacher run's StyleGAN2-ADA recipe (lazy R1 every
    # loss.r_every steps, style mixing replayed by G_T, lazy path length; compress.student_recipe), as NICKEL & DiME
    # Sec. 4 and CAGC do; none: R1/R2 every step, no mixing or path length. R3GAN teachers are the same either way
    student_recipe: StudentRecipeChoice = "teacher"
    ema_halflife_kimg: float = 0.5
    ema_rampup: float = 0.05  # half-life <= ema_rampup * images seen (StyleGAN2-ADA)
    log_every_kimg: float = 0.5
    snapshot_every_kimg: float = 5.0
    keep_checkpoints: int = 2
    grid_size: int = 16
    # model selection metric (SDAKD Sec. 4.2), e.g. "fid@classifier-mnist"; "auto": FID on classifier-mnist when the
    # data's real images lie in that classifier's range (compress.selection), else none; "" or "none": no selection
    eval_metric: str = "auto"
    eval_every_kimg: float = 0.0  # 0: at the end of every stage only
    eval_num: int = 1000
    eval_seed: int = 12345  # validation latents, distinct from the test seed 0 of `ganforge evaluate`
    max_nonfinite_skips: int = 20
    sup: SupConfig = field(default_factory=SupConfig)
    sdakd: SDAKDConfig = field(default_factory=SDAKDConfig)
    nickel: NickelDimeConfig = field(default_factory=NickelDimeConfig)
    kd: KDConfig = field(default_factory=KDConfig)

    def __post_init__(self) -> None:
        validate(self)


def validate(cfg: CompressConfig) -> None:
    """Types and Literal choices of every field (training.validate), then the ranges the types cannot express."""
    validate_config(cfg, run_post_init=False)
    if not 0 < cfg.fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {cfg.fraction}")
    if cfg.kimg < 0 or cfg.batch_size < 1:
        raise ValueError(f"kimg must be >= 0 and batch_size >= 1, got {cfg.kimg} and {cfg.batch_size}")


def resolved_init(cfg: CompressConfig) -> str:
    """"teacher" or "random": init, with "auto" meaning the method's paper's choice (PAPER_INIT)."""
    return PAPER_INIT[cfg.method] if cfg.init == "auto" else cfg.init


def arm_name(cfg: CompressConfig) -> str:
    """The method's name, plus "+<init>-init" when the student initialisation departs from its paper's."""
    init = resolved_init(cfg)
    return cfg.method if init == PAPER_INIT[cfg.method] else f"{cfg.method}+{init}-init"


def to_dict(cfg: CompressConfig) -> dict:
    return dataclasses.asdict(cfg)


__all__ = ["DIME_MODES", "INIT_CHOICES", "METHODS", "PAPER_INIT", "CompressConfig", "DMatch", "DimeMode", "Init",
           "KDConfig", "Method", "NickelDimeConfig", "SDAKDConfig", "Stage2Fakes", "StudentRecipeChoice", "SupConfig",
           "arm_name", "resolved_init", "to_dict", "validate"]
