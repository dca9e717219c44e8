"""AugmentConfig: which augmentation (none / DiffAugment / ADA pipeline) and how its p is controlled."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ganforge.augment.diffaugment import parse_policy
from ganforge.augment.pipeline import parse_preset

KINDS = ("none", "diffaugment", "ada")
P_MODES = ("auto", "fixed", "cosine", "adaptive")


@dataclass
class AugmentConfig:
    """Augmentation settings of a training run.

    kind: "none" | "diffaugment" | "ada" (the ADA-style pipeline).
    policy: DiffAugment policy, e.g. "color,translation,cutout".
    preset: ADA probability multipliers: "r3gan" (colour 0.5, rest 1, cutout), "bgc" (StyleGAN2-ADA), "bgcc",
        "bg", "blit", "geom", "color", "cutout", or an explicit list such as "xflip=1,rotate90=1,hue=0.5".
    p_mode: "fixed" | "cosine" | "adaptive" | "auto" (= "adaptive" for ada, "fixed" otherwise).
    p: fixed p, cosine target, or adaptive start; None means 1.0 for DiffAugment (the paper), 0.0 for an
        adaptive start, and is required for ada with fixed or cosine p.
    burnin_kimg: length of the cosine ramp (R3GAN Table 7 burn-in).
    ada_target, ada_kimg, ada_interval: ADA's r_t target, speed (kimg for p to move by 1), D steps per update.
    """

    kind: str = "none"
    policy: str = "color,translation,cutout"
    preset: str = "r3gan"
    p_mode: str = "auto"
    p: float | None = None
    burnin_kimg: float = 0.0
    ada_target: float = 0.6
    ada_kimg: float = 500.0
    ada_interval: int = 4

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the bad field; called on construction and by the builders."""
        if self.kind not in KINDS:
            raise ValueError(f"augment.kind must be one of {KINDS}, got '{self.kind}'")
        if self.p_mode not in P_MODES:
            raise ValueError(f"augment.p_mode must be one of {P_MODES}, got '{self.p_mode}'")
        if self.p is not None and not 0.0 <= float(self.p) <= 1.0:
            raise ValueError(f"augment.p must be in [0, 1], got {self.p}")
        if self.kind == "diffaugment":
            parse_policy(self.policy)
        if self.kind == "ada":
            parse_preset(self.preset)
        mode = self.mode
        if self.kind == "none" and mode != "fixed":
            raise ValueError(f"augment.kind='none' cannot use p_mode='{mode}'; choose kind 'ada' or 'diffaugment'")
        if self.kind == "ada" and mode in ("fixed", "cosine") and self.p is None:
            raise ValueError(f"augment.kind='ada' with p_mode='{mode}' needs augment.p (the {mode} probability)")
        if self.burnin_kimg < 0 or self.ada_kimg <= 0 or self.ada_interval < 1:
            raise ValueError("augment.burnin_kimg must be >= 0, ada_kimg > 0 and ada_interval >= 1")
        if not 0.0 <= self.ada_target <= 1.0:
            raise ValueError(f"augment.ada_target must be in [0, 1], got {self.ada_target}")

    @property
    def mode(self) -> str:
        """The p_mode after resolving "auto"."""
        if self.p_mode != "auto":
            return self.p_mode
        return "adaptive" if self.kind == "ada" else "fixed"

    @property
    def resolved_p(self) -> float:
        """The p the config asks for: fixed value, cosine target, or adaptive starting value."""
        if self.kind == "none":
            return 0.0
        if self.p is not None:
            return float(self.p)
        return 1.0 if self.kind == "diffaugment" and self.mode != "adaptive" else 0.0


# R3GAN Table 7: augment probability 0 -> target over the burn-in (Mimg), ADA pipeline with R3GAN multipliers.
R3GAN_TABLE7: dict[str, tuple[float, float] | None] = {
    "stacked-mnist": None,
    "cifar10": (0.55, 20_000.0),
    "ffhq256": (0.15, 20_000.0),
    "imagenet32": (0.5, 200_000.0),
}


def r3gan_augment_config(preset: str, kind: str = "ada", **overrides: object) -> AugmentConfig:
    """AugmentConfig for an R3GAN Table 7 preset; kind="diffaugment" or "none" swaps the augmentation type.

    With kind="ada" (default) it is the paper's setting: R3GAN multipliers and a cosine p over the burn-in.
    """
    if preset not in R3GAN_TABLE7:
        raise ValueError(f"unknown R3GAN preset '{preset}'; choose from {sorted(R3GAN_TABLE7)}")
    entry = R3GAN_TABLE7[preset]
    if kind == "none" or (entry is None and kind == "ada"):
        cfg = AugmentConfig(kind="none")
    elif kind == "ada":
        target, burnin_kimg = entry
        cfg = AugmentConfig(kind="ada", preset="r3gan", p_mode="cosine", p=target, burnin_kimg=burnin_kimg)
    else:
        cfg = AugmentConfig(kind=kind)
    return replace(cfg, **overrides) if overrides else cfg
