"""StyleGAN2(-ADA) network configuration: one dataclass for G and D, validated when built, with the official defaults
(NVlabs/stylegan2-ada-pytorch `training/networks.py`) so an official snapshot's kwargs map onto it field by field."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal, get_args

from ganforge.errors import UserError

Architecture = Literal["orig", "skip", "resnet"]


def _int(name: str, v: Any, low: int) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise UserError(f"StyleGAN2Config.{name} must be an integer >= {low}, got {v!r}")


def _optional_int(name: str, v: Any, low: int) -> None:
    if v is not None:
        _int(name, v, low)


@dataclass(frozen=True)
class StyleGAN2Config:
    """Shapes and hyper-parameters of a StyleGAN2-ADA generator / discriminator pair.

    fp16: `num_fp16_res` is kept for fidelity with official files; blocks at the highest `num_fp16_res` resolutions
    run float16 only on CUDA and only when `force_fp32=False` is passed. On CPU everything runs float32 (the official
    CPU fp16 path is slow and differs by up to 1e-2), and nothing requires fp16.
    """

    z_dim: int = 512
    w_dim: int = 512
    c_dim: int = 0
    img_resolution: int = 256
    img_channels: int = 3
    # Mapping network of G (StyleGAN Sec. 2): MLP z (+ embedded c) -> w, lr multiplier 0.01 for stable training.
    mapping_layers: int = 8
    mapping_lr_multiplier: float = 0.01
    embed_features: int | None = None  # label embedding width, None = w_dim
    layer_features: int | None = None  # mapping hidden width, None = w_dim
    w_avg_beta: float | None = 0.995  # EMA of w for the truncation trick; None = not tracked (no truncation)
    # Channels per resolution: min(channel_base // res, channel_max), shared by G and D as the official presets do.
    channel_base: int = 32768
    channel_max: int = 512
    num_fp16_res: int = 0
    conv_clamp: float | None = None  # clamp conv outputs to +-X (set with fp16, 256 in the official presets)
    g_architecture: Architecture = "skip"
    d_architecture: Architecture = "resnet"
    use_noise: bool = True  # per-pixel noise inputs in G
    resample_filter: tuple[float, ...] = (1, 3, 3, 1)
    mbstd_group_size: int | None = 4  # None = whole minibatch
    mbstd_num_channels: int = 1  # 0 = no minibatch-std layer
    cmap_dim: int | None = None  # D projection width for labels, None = channels at 4x4
    d_mapping_layers: int = 8  # D's label mapping (widths = cmap_dim)
    d_mapping_lr_multiplier: float = 0.01
    d_freeze_layers: int = 0  # Freeze-D: the first N D layers hold their weights as buffers

    def __post_init__(self) -> None:
        for name in ("z_dim", "c_dim", "num_fp16_res", "mbstd_num_channels", "d_freeze_layers"):
            _int(name, getattr(self, name), 0)
        for name in ("w_dim", "img_resolution", "img_channels", "mapping_layers", "channel_base", "channel_max",
                     "d_mapping_layers"):
            _int(name, getattr(self, name), 1)
        for name in ("embed_features", "layer_features", "mbstd_group_size", "cmap_dim"):
            _optional_int(name, getattr(self, name), 1)
        if self.img_resolution < 4 or self.img_resolution & (self.img_resolution - 1):
            raise UserError(f"StyleGAN2Config.img_resolution must be a power of two >= 4, got {self.img_resolution}")
        if self.channel_base // self.img_resolution < 1:
            raise UserError(f"StyleGAN2Config.channel_base {self.channel_base} gives 0 channels at "
                            f"{self.img_resolution}x{self.img_resolution}; use at least {self.img_resolution}")
        for name in ("g_architecture", "d_architecture"):
            if getattr(self, name) not in get_args(Architecture):
                raise UserError(f"StyleGAN2Config.{name} must be one of {', '.join(get_args(Architecture))}, "
                                f"got {getattr(self, name)!r}")
        for name in ("mapping_lr_multiplier", "d_mapping_lr_multiplier"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not v > 0:
                raise UserError(f"StyleGAN2Config.{name} must be > 0, got {v!r}")
        if self.w_avg_beta is not None and not (isinstance(self.w_avg_beta, int | float)
                                                and 0 <= self.w_avg_beta <= 1):
            raise UserError(f"StyleGAN2Config.w_avg_beta must be in [0, 1] or None, got {self.w_avg_beta!r}")
        if self.conv_clamp is not None and not (isinstance(self.conv_clamp, int | float) and self.conv_clamp > 0):
            raise UserError(f"StyleGAN2Config.conv_clamp must be > 0 or None, got {self.conv_clamp!r}")
        if not isinstance(self.use_noise, bool):
            raise UserError(f"StyleGAN2Config.use_noise must be true or false, got {self.use_noise!r}")
        taps = tuple(self.resample_filter)
        if not taps or not all(isinstance(t, int | float) for t in taps) or not math.isfinite(sum(taps)) \
                or sum(taps) == 0:
            raise UserError(f"StyleGAN2Config.resample_filter must be non-empty numbers with a non-zero sum, "
                            f"got {self.resample_filter!r}")
        object.__setattr__(self, "resample_filter", taps)
        if self.mbstd_num_channels and self.channels(4) % self.mbstd_num_channels:
            raise UserError(f"StyleGAN2Config.mbstd_num_channels {self.mbstd_num_channels} must divide the "
                            f"{self.channels(4)} channels at 4x4")

    def channels(self, res: int) -> int:
        """Feature maps at resolution `res`."""
        return min(self.channel_base // res, self.channel_max)

    @property
    def log2_resolution(self) -> int:
        return int(math.log2(self.img_resolution))

    @property
    def fp16_resolution(self) -> int:
        """Blocks at this resolution and above are the `num_fp16_res` highest (never below 8x8)."""
        return max(2 ** (self.log2_resolution + 1 - self.num_fp16_res), 8)

    @property
    def num_ws(self) -> int:
        """w vectors G consumes: one per conv layer plus the last block's ToRGB (2 * log2(res) - 2)."""
        return 2 * (self.log2_resolution - 1)

    @property
    def d_cmap_dim(self) -> int:
        """Width of D's label projection: 0 when unconditional."""
        if self.c_dim == 0:
            return 0
        return self.cmap_dim if self.cmap_dim is not None else self.channels(4)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StyleGAN2Config:
        """From a JSON object; unknown keys are an error naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise UserError(f"unknown StyleGAN2Config key(s): {', '.join(unknown)}; known: {', '.join(sorted(names))}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["resample_filter"] = list(self.resample_filter)
        return d
