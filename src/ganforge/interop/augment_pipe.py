"""An official StyleGAN2-ADA / StyleGAN3 `augment_pipe` record as ganforge ADA settings: its p (the augmentation
probability the official ADA controller had reached) and the transforms ganforge's pipeline has, at the same
multipliers. What has no ganforge counterpart (image-space filtering, additive noise, strengths other than the
defaults) is listed for import.json instead. Only the record's saved attributes are read, never its code."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import torch

from ganforge.augment import PRESETS, TRANSFORMS, AugmentConfig, AugmentStrengths
from ganforge.augment.probability import AdaptiveProbability
from ganforge.errors import UserError
from ganforge.interop.official_pickle import Record

# `training/augment.py` AugmentPipe.__init__ defaults (same in stylegan2-ada-pytorch and stylegan3): used when the
# record lacks an attribute. Multipliers first, then strengths.
OFFICIAL_DEFAULTS: dict[str, Any] = {
    "xflip": 0.0, "rotate90": 0.0, "xint": 0.0, "scale": 0.0, "rotate": 0.0, "aniso": 0.0, "xfrac": 0.0,
    "brightness": 0.0, "contrast": 0.0, "lumaflip": 0.0, "hue": 0.0, "saturation": 0.0, "imgfilter": 0.0,
    "noise": 0.0, "cutout": 0.0,
    "xint_max": 0.125, "scale_std": 0.2, "rotate_max": 1.0, "aniso_std": 0.2, "xfrac_std": 0.125,
    "brightness_std": 0.2, "contrast_std": 0.5, "hue_max": 1.0, "saturation_std": 1.0, "imgfilter_bands": [1, 1, 1, 1],
    "imgfilter_std": 1.0, "noise_std": 0.1, "cutout_size": 0.5,
}
# Official transforms ganforge's AugmentPipe lacks, and the strengths that only they use.
UNSUPPORTED = {"imgfilter": ("imgfilter_bands", "imgfilter_std"), "noise": ("noise_std",)}
# Strength -> the transform it belongs to (ganforge's AugmentStrengths uses the official names).
STRENGTH_OF = {"xint_max": "xint", "scale_std": "scale", "rotate_max": "rotate", "aniso_std": "aniso",
               "xfrac_std": "xfrac", "brightness_std": "brightness", "contrast_std": "contrast", "hue_max": "hue",
               "saturation_std": "saturation", "cutout_size": "cutout"}
assert set(STRENGTH_OF) == {f.name for f in fields(AugmentStrengths)}


@dataclass
class ImportedAugment:
    """ganforge's ADA config and controller state for an official augment_pipe, and what did not map."""

    config: AugmentConfig
    p: float
    not_mapped: dict[str, Any] = field(default_factory=dict)

    def controller_state(self) -> dict[str, Any]:
        """The checkpoint's "augment" entry: an adaptive controller at p, as `Trainer` saves and restores it."""
        return AdaptiveProbability(self.config.ada_target, self.config.ada_kimg, self.config.ada_interval,
                                   p=self.p).state_dict()

    def info(self) -> dict[str, Any]:
        """For import.json."""
        return {"p": self.p, "augment": {"kind": self.config.kind, "preset": self.config.preset,
                                         "p_mode": self.config.p_mode, "p": self.config.p},
                "not_mapped": self.not_mapped}

    def summary(self) -> str:
        """One line for `ganforge import`."""
        line = f"ADA p={self.p:.4f}, {self.config.preset}" if self.config.kind == "ada" else "none"
        if self.not_mapped:
            line += f"; not mapped (see import.json): {', '.join(sorted(self.not_mapped))}"
        return line


def _number(rec: Record, name: str) -> float:
    value = rec.state.get(name, rec.kwargs.get(name, OFFICIAL_DEFAULTS[name]))
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UserError(f"augment_pipe.{name} is {value!r}, not a finite number; the snapshot is damaged")
    return float(value)


def _p(rec: Record) -> float:
    p = (rec.state.get("_buffers") or {}).get("p")
    if not isinstance(p, torch.Tensor) or p.numel() != 1 or not bool(torch.isfinite(p).all()):
        raise UserError("augment_pipe has no finite scalar buffer p; the snapshot is damaged")
    return float(p)


def _preset(multipliers: dict[str, float]) -> str:
    """A preset name when the multipliers are one ("bgc" is StyleGAN2-ADA's default), else an explicit list."""
    for name, preset in PRESETS.items():
        if preset == multipliers:
            return name
    return ",".join(f"{k}={v:g}" for k, v in multipliers.items())


def convert_augment_pipe(rec: Record) -> ImportedAugment:
    """ganforge ADA settings for an official AugmentPipe record (kind "ada", adaptive p starting at the record's p,
    the same transform multipliers); the official transforms, strengths and p values ganforge cannot reproduce are
    returned in `not_mapped`, name -> official value."""
    if rec.class_name.rsplit(".", 1)[-1] != "AugmentPipe":
        raise UserError(f"augment_pipe is a {rec.class_name!r}, not an official AugmentPipe")
    p = _p(rec)
    multipliers = {name: _number(rec, name) for name in TRANSFORMS}
    if any(v < 0 for v in multipliers.values()):
        raise UserError(f"augment_pipe has negative probability multipliers {multipliers}; the snapshot is damaged")
    not_mapped: dict[str, Any] = {}
    for name, strengths in UNSUPPORTED.items():
        if _number(rec, name) > 0:
            not_mapped[name] = _number(rec, name)
            not_mapped.update({s: rec.state.get(s, rec.kwargs.get(s, OFFICIAL_DEFAULTS[s])) for s in strengths})
    defaults = AugmentStrengths()
    for strength, transform in STRENGTH_OF.items():
        value = _number(rec, strength)
        if multipliers[transform] > 0 and not math.isclose(value, getattr(defaults, strength), rel_tol=1e-6):
            not_mapped[strength] = value  # ganforge's pipeline runs its default strength instead
    if p < 0 or p > 1:  # the official controller only clamps at 0
        not_mapped["p"] = p
        p = min(max(p, 0.0), 1.0)
    active = {k: v for k, v in multipliers.items() if v > 0}
    if not active:
        return ImportedAugment(AugmentConfig(kind="none"), 0.0, not_mapped)
    return ImportedAugment(AugmentConfig(kind="ada", preset=_preset(active), p_mode="adaptive", p=p), p, not_mapped)


__all__ = ["OFFICIAL_DEFAULTS", "ImportedAugment", "convert_augment_pipe"]
