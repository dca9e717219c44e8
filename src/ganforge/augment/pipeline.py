"""ADA-style non-leaky augmentation: every transform is applied per image with probability p * multiplier.

Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data" (StyleGAN2-ADA), Sec. 2-3 and
Appendix B; R3GAN (Huang et al. 2024) Appendix J adds cutout and halves the colour multipliers. All geometric
transforms are folded into one 3x3 matrix per image and executed with a single grid_sample; all colour
transforms into one 4x4 matrix per image. Images left untouched by every transform are skipped, and p == 0
does no work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ganforge.augment.base import Augmenter, normal, param_dtype, uniform
from ganforge.augment.transforms import (
    apply_color,
    apply_geometric,
    apply_to_subset,
    cutout_mask,
    eye,
    luma_axis,
    non_identity,
    rotate2d,
    rotate2d_cs,
    rotate3d,
    scale2d,
    scale3d,
    translate2d,
    translate3d,
)

GEOMETRIC = ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac")
COLOR = ("brightness", "contrast", "lumaflip", "hue", "saturation")
TRANSFORMS = (*GEOMETRIC, *COLOR, "cutout")

_BLIT = {"xflip": 1.0, "rotate90": 1.0, "xint": 1.0}
_GEOM = {"scale": 1.0, "rotate": 1.0, "aniso": 1.0, "xfrac": 1.0}
_COLOR = {name: 1.0 for name in COLOR}

# Probability multipliers per transform. "bgc" is StyleGAN2-ADA's default pipeline; "r3gan" is R3GAN App. J
# (blit + geometric at 1, colour at 0.5, cutout at 1).
PRESETS: dict[str, dict[str, float]] = {
    "blit": dict(_BLIT),
    "geom": dict(_GEOM),
    "color": dict(_COLOR),
    "cutout": {"cutout": 1.0},
    "bg": {**_BLIT, **_GEOM},
    "bgc": {**_BLIT, **_GEOM, **_COLOR},
    "bgcc": {**_BLIT, **_GEOM, **_COLOR, "cutout": 1.0},
    "r3gan": {**_BLIT, **_GEOM, **{name: 0.5 for name in COLOR}, "cutout": 1.0},
}


@dataclass
class AugmentParams:
    """One call's random parameters: G^-1 [N, 3, 3], colour [N, 4, 4], cutout size [N] and centre [N, 2]."""

    geometric: Tensor | None = None
    color: Tensor | None = None
    cutout_size: Tensor | None = None
    cutout_center: Tensor | None = None


@dataclass(frozen=True)
class AugmentStrengths:
    """Magnitudes of the transforms once chosen; defaults are StyleGAN2-ADA's (augment.py)."""

    xint_max: float = 0.125  # integer translation, fraction of the image size (uniform)
    scale_std: float = 0.2  # log2 std of isotropic scaling
    rotate_max: float = 1.0  # arbitrary rotation, fraction of a half turn (uniform)
    aniso_std: float = 0.2  # log2 std of anisotropic scaling
    xfrac_std: float = 0.125  # fractional translation std, fraction of the image size
    brightness_std: float = 0.2  # additive offset std (in [-1, 1] units)
    contrast_std: float = 0.5  # log2 std of the contrast factor
    hue_max: float = 1.0  # hue rotation, fraction of a half turn (uniform)
    saturation_std: float = 1.0  # log2 std of the saturation factor
    cutout_size: float = 0.5  # side of the cutout square, fraction of the image size


def parse_preset(spec: str) -> dict[str, float]:
    """Multipliers from a preset name ("r3gan", "bgc", ...) or an explicit list "xflip=1,hue=0.5,cutout"."""
    if spec in PRESETS:
        return dict(PRESETS[spec])
    out: dict[str, float] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, _, value = item.partition("=")
        name = name.strip()
        if name in PRESETS and not value:
            out.update(PRESETS[name])
            continue
        if name not in TRANSFORMS:
            raise ValueError(
                f"unknown augmentation '{name}' in preset '{spec}'; presets: {sorted(PRESETS)}, "
                f"transforms: {list(TRANSFORMS)}"
            )
        out[name] = float(value) if value else 1.0
    if not out:
        raise ValueError(f"empty augmentation preset '{spec}'; presets: {sorted(PRESETS)}")
    return out


class AugmentPipe(Augmenter):
    """Non-leaky ADA pipeline; `multipliers` scale p per transform (PRESETS), `strengths` set magnitudes."""

    def __init__(
        self,
        p: float = 0.0,
        multipliers: dict[str, float] | str = "r3gan",
        strengths: AugmentStrengths | None = None,
    ) -> None:
        super().__init__(p)
        mult = parse_preset(multipliers) if isinstance(multipliers, str) else dict(multipliers)
        unknown = set(mult) - set(TRANSFORMS)
        if unknown:
            raise ValueError(f"unknown augmentation(s) {sorted(unknown)}; choose from {list(TRANSFORMS)}")
        if any(v < 0 for v in mult.values()):
            raise ValueError(f"probability multipliers must be >= 0, got {mult}")
        self.multipliers: dict[str, float] = {name: float(mult.get(name, 0.0)) for name in TRANSFORMS}
        self.strengths = strengths or AugmentStrengths()

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if self.p == 0.0 or not any(self.multipliers.values()):
            return x
        return self.apply(x, self.sample(x, generator))

    def sample(self, x: Tensor, generator: torch.Generator | None = None) -> AugmentParams:
        """Draw the random parameters for a batch shaped like x (the order of draws is fixed)."""
        if x.ndim != 4:
            raise ValueError(f"expected NCHW images, got shape {tuple(x.shape)}")
        n, ch, h, w = x.shape
        like = torch.empty(n, dtype=param_dtype(x), device=x.device)
        params = AugmentParams(self._geometric(like, h, w, generator), self._color(like, ch, generator))
        if self.multipliers["cutout"] > 0:
            size = torch.full_like(like, self.strengths.cutout_size)
            params.cutout_size = torch.where(self._chosen("cutout", like, generator), size, torch.zeros_like(like))
            params.cutout_center = uniform((n, 2), like=like, generator=generator)
        return params

    def apply(self, x: Tensor, params: AugmentParams) -> Tensor:
        """Execute sampled parameters: one grid_sample, one colour matrix, one cutout mask (each only if needed)."""
        if params.geometric is not None:
            x = apply_to_subset(x, non_identity(params.geometric), apply_geometric, params.geometric)
        if params.color is not None:
            x = apply_to_subset(x, non_identity(params.color), apply_color, params.color)
        size, center = params.cutout_size, params.cutout_center
        if size is not None and center is not None and bool((size > 0).any()):
            x = x * cutout_mask(center, size, x.shape[2], x.shape[3]).to(x.dtype)
        return x

    def _chosen(self, name: str, like: Tensor, generator: torch.Generator | None, prob: float | None = None) -> Tensor:
        """Bool [N]: which images get transform `name` (probability p * multiplier, or `prob` if given)."""
        prob = self.p * self.multipliers[name] if prob is None else prob
        return uniform((like.shape[0],), like=like, generator=generator) < prob

    def _geometric(self, like: Tensor, h: int, w: int, gen: torch.Generator | None) -> Tensor | None:
        """Combined G^-1 [N, 3, 3]; each step right-multiplies an inverse forward transform (ADA App. B)."""
        m, st = self.multipliers, self.strengths
        if not any(m[name] > 0 for name in GEOMETRIC):
            return None
        n = like.shape[0]
        zero, one = torch.zeros_like(like), torch.ones_like(like)
        g = eye(3, n, like=like)
        if m["xflip"] > 0:
            i = torch.where(
                self._chosen("xflip", like, gen), torch.floor(uniform((n,), like=like, generator=gen) * 2), 0
            )
            g = g @ scale2d(1 - 2 * i, one)
        if m["rotate90"] > 0:
            k = torch.floor(uniform((n,), like=like, generator=gen) * 4)
            k = torch.where(self._chosen("rotate90", like, gen), k, 0).long()
            cos = torch.tensor([1.0, 0.0, -1.0, 0.0], dtype=like.dtype, device=like.device)[k]
            sin = torch.tensor([0.0, 1.0, 0.0, -1.0], dtype=like.dtype, device=like.device)[k]
            g = g @ rotate2d_cs(cos, sin)  # exact quarter turns
        if m["xint"] > 0:
            t = (uniform((n, 2), like=like, generator=gen) * 2 - 1) * st.xint_max
            t = torch.where(self._chosen("xint", like, gen)[:, None], t, 0)
            g = g @ translate2d(-torch.round(t[:, 0] * w), -torch.round(t[:, 1] * h))
        if m["scale"] > 0:
            s = torch.exp2(normal((n,), like=like, generator=gen) * st.scale_std)
            s = torch.where(self._chosen("scale", like, gen), s, one)
            g = g @ scale2d(1 / s, 1 / s)
        # Rotation is split around the anisotropic scaling; P(pre or post) = p * multiplier (ADA App. B).
        p_rot = 1 - math.sqrt(min(max(1 - m["rotate"] * self.p, 0.0), 1.0))
        if m["rotate"] > 0:
            theta = (uniform((n,), like=like, generator=gen) * 2 - 1) * math.pi * st.rotate_max
            g = g @ rotate2d(torch.where(self._chosen("rotate", like, gen, p_rot), theta, zero))
        if m["aniso"] > 0:
            s = torch.exp2(normal((n,), like=like, generator=gen) * st.aniso_std)
            s = torch.where(self._chosen("aniso", like, gen), s, one)
            g = g @ scale2d(1 / s, s)
        if m["rotate"] > 0:
            theta = (uniform((n,), like=like, generator=gen) * 2 - 1) * math.pi * st.rotate_max
            g = g @ rotate2d(torch.where(self._chosen("rotate", like, gen, p_rot), theta, zero))
        if m["xfrac"] > 0:
            t = normal((n, 2), like=like, generator=gen) * st.xfrac_std
            t = torch.where(self._chosen("xfrac", like, gen)[:, None], t, 0)
            g = g @ translate2d(-t[:, 0] * w, -t[:, 1] * h)
        return g

    def _color(self, like: Tensor, ch: int, gen: torch.Generator | None) -> Tensor | None:
        """Combined colour matrix [N, 4, 4]; steps left-multiply (ADA App. B). Hue/saturation need RGB."""
        m, st = self.multipliers, self.strengths
        use_hue, use_sat = m["hue"] > 0 and ch > 1, m["saturation"] > 0 and ch > 1
        if not (m["brightness"] > 0 or m["contrast"] > 0 or m["lumaflip"] > 0 or use_hue or use_sat):
            return None
        n = like.shape[0]
        zero, one = torch.zeros_like(like), torch.ones_like(like)
        eye4 = eye(4, n, like=like)
        c = eye4
        if m["brightness"] > 0:
            b = normal((n,), like=like, generator=gen) * st.brightness_std
            b = torch.where(self._chosen("brightness", like, gen), b, zero)
            c = translate3d(b, b, b) @ c
        if m["contrast"] > 0:
            k = torch.exp2(normal((n,), like=like, generator=gen) * st.contrast_std)
            k = torch.where(self._chosen("contrast", like, gen), k, one)
            c = scale3d(k, k, k) @ c
        v = luma_axis(like=like)
        vv = torch.outer(v, v)
        if m["lumaflip"] > 0:
            i = torch.floor(uniform((n,), like=like, generator=gen) * 2)
            i = torch.where(self._chosen("lumaflip", like, gen), i, zero)
            c = (eye4 - 2 * vv * i[:, None, None]) @ c  # Householder reflection of the luma component
        if use_hue:
            theta = (uniform((n,), like=like, generator=gen) * 2 - 1) * math.pi * st.hue_max
            c = rotate3d(v, torch.where(self._chosen("hue", like, gen), theta, zero)) @ c
        if use_sat:
            s = torch.exp2(normal((n,), like=like, generator=gen) * st.saturation_std)
            s = torch.where(self._chosen("saturation", like, gen), s, one)
            # vv^T + (I - vv^T) s, written as I + (s - 1)(I - vv^T) so s = 1 is an exact identity.
            c = (eye4 + (s - 1)[:, None, None] * (eye4 - vv)) @ c
        return c

    def extra_repr(self) -> str:
        active = ", ".join(f"{k}={v:g}" for k, v in self.multipliers.items() if v > 0)
        return f"p={self.p:.4f}, {active}"
