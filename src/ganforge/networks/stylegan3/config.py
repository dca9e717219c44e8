"""StyleGAN3 generator configuration: one validated dataclass with the official defaults (NVlabs/stylegan3
`training/networks_stylegan3.py`), and the per-layer geometry (cutoffs, sampling rates, sizes, channels) it implies."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

from ganforge.errors import UserError

Variant = Literal["t", "r"]


def _int(name: str, v: Any, low: int) -> None:
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < low:
        raise UserError(f"StyleGAN3Config.{name} must be an integer >= {low}, got {v!r}")


def _positive(name: str, v: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, int | float | np.floating) or not math.isfinite(v) or v <= 0:
        raise UserError(f"StyleGAN3Config.{name} must be a finite number > 0, got {v!r}")


@dataclass(frozen=True)
class LayerSpec:
    """Geometry of one synthesis layer (Alias-Free GAN Sec. 3, "Flexible layer specifications", Fig. 4b)."""

    name: str
    in_channels: int
    out_channels: int
    in_size: int
    out_size: int
    in_sampling_rate: int
    out_sampling_rate: int
    in_cutoff: float
    out_cutoff: float
    in_half_width: float
    out_half_width: float
    is_torgb: bool
    is_critically_sampled: bool
    use_fp16: bool  # what the official code would run in float16 on CUDA; ganforge always runs float32


@dataclass(frozen=True)
class StyleGAN3Config:
    """Shapes and hyper-parameters of a StyleGAN3 generator (Karras et al. 2021, "Alias-Free GAN").

    `config` picks the variant: "t" (translation equivariant: 3x3 convolutions, separable Kaiser filters) or "r"
    (rotation equivariant: 1x1 convolutions, radially symmetric jinc-based downsampling filters in the non-critical
    layers; the official preset also doubles channel_base and channel_max, set them explicitly here).
    `num_fp16_res` is kept for fidelity with official files only: ganforge runs every layer in float32.
    """

    z_dim: int = 512
    w_dim: int = 512
    c_dim: int = 0
    img_resolution: int = 256
    img_channels: int = 3
    config: Variant = "t"
    # Mapping network (StyleGAN Sec. 2), shared with ganforge's StyleGAN2; SG3 uses 2 layers by default.
    mapping_layers: int = 2
    mapping_lr_multiplier: float = 0.01
    w_avg_beta: float = 0.998  # EMA of w for the truncation trick
    channel_base: int = 32768  # channels of a layer: min(channel_base / 2 / cutoff, channel_max)
    channel_max: int = 512
    num_layers: int = 14  # synthesis layers excluding the Fourier-feature input and ToRGB
    num_critical: int = 2  # critically sampled layers at the end
    first_cutoff: float = 2.0  # f_{c,0}
    first_stopband: float = 2**2.1  # f_{t,0}
    last_stopband_rel: float = 2**0.3  # f_{t,N} / f_{c,N}
    margin_size: int = 10  # extra pixels computed outside the image on each side
    output_scale: float = 0.25
    num_fp16_res: int = 4
    filter_size: int = 6  # low-pass taps per lower-resolution pixel when resampling
    lrelu_upsampling: int = 2  # the nonlinearity runs at this multiple of the higher sampling rate
    conv_clamp: float | None = 256
    magnitude_ema_beta: float = 0.999  # EMA of the input magnitude of each layer

    def __post_init__(self) -> None:
        for name in ("z_dim", "c_dim", "num_fp16_res", "margin_size"):
            _int(name, getattr(self, name), 0)
        for name in ("w_dim", "img_resolution", "img_channels", "mapping_layers", "channel_base", "channel_max",
                     "num_layers", "filter_size", "lrelu_upsampling"):
            _int(name, getattr(self, name), 1)
        _int("num_critical", self.num_critical, 0)
        if self.z_dim == 0 and self.c_dim == 0:
            raise UserError("StyleGAN3Config needs z_dim > 0 or c_dim > 0: the mapping network has no input")
        if self.img_resolution < 4 or self.img_resolution & (self.img_resolution - 1):
            raise UserError(f"StyleGAN3Config.img_resolution must be a power of two >= 4, got {self.img_resolution}")
        if self.config not in get_args(Variant):
            raise UserError(f"StyleGAN3Config.config must be one of {', '.join(get_args(Variant))}, "
                            f"got {self.config!r}")
        if self.num_critical >= self.num_layers:
            raise UserError(f"StyleGAN3Config.num_critical ({self.num_critical}) must be smaller than num_layers "
                            f"({self.num_layers})")
        for name in ("mapping_lr_multiplier", "first_cutoff", "first_stopband", "last_stopband_rel", "output_scale"):
            _positive(name, getattr(self, name))
        for name in ("w_avg_beta", "magnitude_ema_beta"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 1:
                raise UserError(f"StyleGAN3Config.{name} must be in [0, 1], got {v!r}")
        if self.conv_clamp is not None:
            _positive("conv_clamp", self.conv_clamp)
        if self.first_cutoff >= self.img_resolution / 2:
            raise UserError(f"StyleGAN3Config.first_cutoff {self.first_cutoff} must be below the output Nyquist "
                            f"frequency {self.img_resolution / 2}")
        if min(spec.out_channels for spec in self.layer_specs()[:-1]) < 1:
            raise UserError(f"StyleGAN3Config.channel_base {self.channel_base} gives layers without channels")

    @property
    def conv_kernel(self) -> int:
        """Kernel of the modulated convolutions: 1x1 for config R (Sec. 3, "Rotation equivariance"), else 3x3."""
        return 1 if self.config == "r" else 3

    @property
    def use_radial_filters(self) -> bool:
        return self.config == "r"

    @property
    def num_ws(self) -> int:
        """w vectors the synthesis network consumes: the input, num_layers layers and ToRGB."""
        return self.num_layers + 2

    def layer_specs(self) -> list[LayerSpec]:
        """Layers L0 .. L{num_layers} (the last is ToRGB); the Fourier-feature input has L0's input geometry.

        Alias-Free GAN Sec. 3, "Flexible layer specifications": cutoff f_c and minimum stopband f_t grow
        geometrically from the first layer to the last non-critical one, then stay at f_c = img_resolution / 2.
        Sampling rate s = smallest power of two >= 2 f_t (at most img_resolution); transition half-width
        f_h = max(f_t, s/2) - f_c; sizes add `margin_size` pixels on each side except the last two layers.
        """
        n = self.num_layers
        last_cutoff = self.img_resolution / 2
        last_stopband = last_cutoff * self.last_stopband_rel
        exponents = np.minimum(np.arange(n + 1) / (n - self.num_critical), 1)
        cutoffs = self.first_cutoff * (last_cutoff / self.first_cutoff) ** exponents
        stopbands = self.first_stopband * (last_stopband / self.first_stopband) ** exponents
        rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, self.img_resolution))))
        half_widths = np.maximum(stopbands, rates / 2) - cutoffs
        sizes = rates + self.margin_size * 2
        sizes[-2:] = self.img_resolution
        channels = np.rint(np.minimum((self.channel_base / 2) / cutoffs, self.channel_max))
        channels[-1] = self.img_channels
        specs = []
        for i in range(n + 1):
            p = max(i - 1, 0)
            specs.append(LayerSpec(
                name=f"L{i}_{int(sizes[i])}_{int(channels[i])}", in_channels=int(channels[p]),
                out_channels=int(channels[i]), in_size=int(sizes[p]), out_size=int(sizes[i]),
                in_sampling_rate=int(rates[p]), out_sampling_rate=int(rates[i]), in_cutoff=float(cutoffs[p]),
                out_cutoff=float(cutoffs[i]), in_half_width=float(half_widths[p]),
                out_half_width=float(half_widths[i]), is_torgb=i == n, is_critically_sampled=i >= n - self.num_critical,
                use_fp16=bool(rates[i] * 2**self.num_fp16_res > self.img_resolution)))
        return specs
