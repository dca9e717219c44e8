"""Low-resolution inputs synthesised from HR images: Real-ESRGAN's high-order degradation or plain bicubic.

Real-ESRGAN (Wang et al. 2021, "Training Real-World Blind Super-Resolution with Pure Synthetic Data", Sec. 3.1 to
3.3) degrades each HR image twice in a row with blur -> random resize -> noise -> JPEG, then resizes it to the
LR size with a final 2D sinc filter placed before or after the last JPEG. The defaults of `DegradationConfig` are
the released `train_realesrgan_x4plus.yml` options (the x2plus options are the same). Everything is batched in torch
on tensors [N, 3, H, W] in [0, 1] and every random number comes from the torch.Generator passed in, so the same seed
gives the same LR batch. The pixel operations (noise, JPEG, resize, USM, ...) are in ganforge.data.degradation_ops.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import torch

from ganforge.data.degradation_kernels import (
    KernelType,
    choice,
    filter2d,
    pad_kernel,
    pulse_kernel,
    random_mixed_kernel,
    random_sinc_cutoff,
    sinc_kernel,
    uniform,
)
from ganforge.data.degradation_ops import (
    ResizeMode,
    bicubic_downsample,
    gaussian_noise,
    jpeg,
    poisson_noise,
    quantize,
    resize,
    usm_sharpen,
)
from ganforge.errors import UserError

Mode = Literal["realesrgan", "bicubic"]
KERNELS: tuple[KernelType, ...] = get_args(KernelType)


def _check_prob(owner: str, name: str, p: float) -> None:
    """Refuse a probability outside [0, 1]."""
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise UserError(f"{owner}.{name} must be a probability in [0, 1], got {p!r}")


def _check_range(owner: str, name: str, r: tuple[float, float], lo: float, hi: float) -> None:
    """Refuse anything but a pair (low, high) with lo <= low <= high <= hi."""
    ok = isinstance(r, tuple) and len(r) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                      for v in r)
    if not ok or not lo <= r[0] <= r[1] <= hi:
        raise UserError(f"{owner}.{name} must be a pair (low, high) with {lo} <= low <= high <= {hi}, got {r!r}")


def _check_dist(owner: str, name: str, probs: tuple[float, ...], n: int) -> None:
    """Refuse anything but n non-negative probabilities summing to 1."""
    if not isinstance(probs, tuple) or len(probs) != n or any(isinstance(p, bool) or not isinstance(p, (int, float))
                                                              or p < 0 for p in probs):
        raise UserError(f"{owner}.{name} must be {n} non-negative probabilities, got {probs!r}")
    if abs(sum(probs) - 1.0) > 1e-6:
        raise UserError(f"{owner}.{name} must sum to 1, got {probs!r} (sum {sum(probs):g})")


@dataclass(frozen=True)
class StageConfig:
    """One degradation stage: blur, resize (up / down / keep), Gaussian or Poisson noise, JPEG. Defaults are
    Real-ESRGAN's first stage; noise sigma is on the 0-255 scale, JPEG quality in [1, 100]."""

    blur_prob: float = 1.0  # the first stage always blurs; Real-ESRGAN's second_blur_prob is 0.8
    kernel_list: tuple[KernelType, ...] = KERNELS
    kernel_prob: tuple[float, ...] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
    sinc_prob: float = 0.1  # a 2D sinc instead of a Gaussian-family kernel (ringing, overshoot)
    blur_sigma: tuple[float, float] = (0.2, 3.0)
    betag_range: tuple[float, float] = (0.5, 4.0)  # generalized Gaussian shape
    betap_range: tuple[float, float] = (1.0, 2.0)  # plateau shape
    resize_prob: tuple[float, float, float] = (0.2, 0.7, 0.1)  # up, down, keep
    resize_range: tuple[float, float] = (0.15, 1.5)
    gaussian_noise_prob: float = 0.5  # else Poisson
    noise_range: tuple[float, float] = (1.0, 30.0)
    poisson_scale_range: tuple[float, float] = (0.05, 3.0)
    gray_noise_prob: float = 0.4
    jpeg_range: tuple[float, float] = (30.0, 95.0)

    def __post_init__(self) -> None:
        own = "StageConfig"
        for name in ("blur_prob", "sinc_prob", "gaussian_noise_prob", "gray_noise_prob"):
            _check_prob(own, name, getattr(self, name))
        bad = [k for k in self.kernel_list if k not in KERNELS] if isinstance(self.kernel_list, tuple) else [0]
        if bad or not self.kernel_list:
            raise UserError(f"{own}.kernel_list must be a non-empty tuple of {', '.join(KERNELS)}, "
                            f"got {self.kernel_list!r}")
        _check_dist(own, "kernel_prob", self.kernel_prob, len(self.kernel_list))
        _check_dist(own, "resize_prob", self.resize_prob, 3)
        _check_range(own, "blur_sigma", self.blur_sigma, 1e-3, 100.0)
        _check_range(own, "betag_range", self.betag_range, 1e-3, 100.0)
        _check_range(own, "betap_range", self.betap_range, 1e-3, 100.0)
        for name, r in (("betag_range", self.betag_range), ("betap_range", self.betap_range)):
            if not r[0] <= 1.0 <= r[1]:  # the shape sampler draws half below 1 and half above
                raise UserError(f"{own}.{name} must contain 1 (half the shapes are drawn below 1, half above), "
                                f"got {r!r}")
        _check_range(own, "resize_range", self.resize_range, 1e-2, 8.0)
        if not self.resize_range[0] <= 1.0 <= self.resize_range[1]:
            raise UserError(f"{own}.resize_range must be (down, up) with down <= 1 <= up, got {self.resize_range!r}")
        _check_range(own, "noise_range", self.noise_range, 0.0, 255.0)
        _check_range(own, "poisson_scale_range", self.poisson_scale_range, 0.0, 100.0)
        _check_range(own, "jpeg_range", self.jpeg_range, 1.0, 100.0)


def _second_stage() -> StageConfig:
    """Real-ESRGAN's second stage: milder blur, applied with probability 0.8, its own resize and noise ranges."""
    return StageConfig(blur_prob=0.8, blur_sigma=(0.2, 1.5), resize_prob=(0.3, 0.4, 0.3), resize_range=(0.3, 1.2),
                       noise_range=(1.0, 25.0), poisson_scale_range=(0.05, 2.5))


@dataclass(frozen=True)
class DegradationConfig:
    """How LR inputs are made from HR images. mode "realesrgan" is the random high-order model (order 2 as
    released, order 1 = the first stage then the final resize and sinc); "bicubic" is the classical antialiased
    bicubic downsampling. Kernels, noise and JPEG qualities are drawn per image; per_image=False draws resize
    factors, resize modes and the final order once per batch, as the released code does (a batch's images must
    share intermediate sizes); True draws them for every image too."""

    mode: Mode = "realesrgan"
    order: Literal[1, 2] = 2
    first: StageConfig = field(default_factory=StageConfig)
    second: StageConfig = field(default_factory=_second_stage)
    final_sinc_prob: float = 0.8
    kernel_size: int = 21  # kernels are 7..kernel_size taps (odd), zero-padded to kernel_size
    resize_modes: tuple[ResizeMode, ...] = get_args(ResizeMode)
    per_image: bool = False

    def __post_init__(self) -> None:
        own = "DegradationConfig"
        if self.mode not in get_args(Mode):
            raise UserError(f"{own}.mode must be one of {', '.join(get_args(Mode))}, got {self.mode!r}")
        if self.order not in (1, 2) or isinstance(self.order, bool):
            raise UserError(f"{own}.order must be 1 or 2, got {self.order!r}")
        for name in ("first", "second"):
            if not isinstance(getattr(self, name), StageConfig):
                raise UserError(f"{own}.{name} must be a StageConfig, got {type(getattr(self, name)).__name__}")
        _check_prob(own, "final_sinc_prob", self.final_sinc_prob)
        k = self.kernel_size
        if isinstance(k, bool) or not isinstance(k, int) or k < 7 or k > 51 or k % 2 == 0:
            raise UserError(f"{own}.kernel_size must be an odd integer in 7..51 (Real-ESRGAN: 21), got {k!r}")
        modes = get_args(ResizeMode)
        if not isinstance(self.resize_modes, tuple) or not self.resize_modes or any(m not in modes
                                                                                    for m in self.resize_modes):
            raise UserError(f"{own}.resize_modes must be a non-empty tuple of {', '.join(modes)}, "
                            f"got {self.resize_modes!r}")
        if not isinstance(self.per_image, bool):
            raise UserError(f"{own}.per_image must be true or false, got {self.per_image!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DegradationConfig:
        """From a JSON object (lists become tuples, `first` / `second` nested objects); unknown keys are an error."""
        if not isinstance(data, dict):
            raise UserError(f"DegradationConfig: expected a JSON object, got {type(data).__name__}")
        kw = {k: _stage(k, v) if k in ("first", "second") else _tuples(v) for k, v in data.items()}
        return _build(cls, lambda: cls(**kw))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict that from_dict reads back."""
        return dataclasses.asdict(self)


def _tuples(v: Any) -> Any:
    """JSON lists become the tuples the frozen configs hold."""
    return tuple(v) if isinstance(v, list) else v


def _build(cls: type, make: Any) -> Any:
    """make(), with a wrong keyword turned into a UserError that lists the fields `cls` knows."""
    try:
        return make()
    except TypeError as e:
        what = str(e).split("() ", 1)[-1]  # "got an unexpected keyword argument 'x'"
        raise UserError(f"{cls.__name__}: {what}; known fields: {', '.join(f.name for f in dataclasses.fields(cls))}")\
            from None


def _stage(name: str, v: Any) -> StageConfig:
    """A StageConfig from a JSON object: the given fields over Real-ESRGAN's defaults for that stage."""
    if isinstance(v, StageConfig):
        return v
    if not isinstance(v, dict):
        raise UserError(f"DegradationConfig.{name}: expected a JSON object, got {type(v).__name__}")
    base = StageConfig() if name == "first" else _second_stage()
    return _build(StageConfig, lambda: dataclasses.replace(base, **{k: _tuples(x) for k, x in v.items()}))


# ------------------------------------------------------------------------------------------------------ pipeline


def _blur_kernel(g: torch.Generator, stage: StageConfig, size: int) -> torch.Tensor:
    """The blur kernel of one image in one stage: identity with probability 1 - blur_prob, else a sinc with
    probability sinc_prob or a Gaussian-family kernel; 7..size taps, zero-padded to size."""
    if uniform(g, 0, 1) >= stage.blur_prob:
        return pulse_kernel(size)
    taps = 7 + 2 * int(torch.randint((size - 7) // 2 + 1, (), generator=g))
    if uniform(g, 0, 1) < stage.sinc_prob:
        return sinc_kernel(taps, random_sinc_cutoff(g, taps), pad_to=size)
    k = random_mixed_kernel(g, taps, stage.kernel_list, stage.kernel_prob, stage.blur_sigma, stage.betag_range,
                            stage.betap_range)
    return pad_kernel(k, size)


def _final_sinc(g: torch.Generator, cfg: DegradationConfig) -> torch.Tensor:
    """The final sinc kernel (Real-ESRGAN Sec. 3.3): with probability final_sinc_prob a sinc of
    7..kernel_size taps with w_c ~ U(pi/3, pi), else the identity."""
    size = cfg.kernel_size
    if uniform(g, 0, 1) >= cfg.final_sinc_prob:
        return pulse_kernel(size)
    taps = 7 + 2 * int(torch.randint((size - 7) // 2 + 1, (), generator=g))
    return sinc_kernel(taps, uniform(g, math.pi / 3, math.pi), pad_to=size)


def _noise(img: torch.Tensor, stage: StageConfig, g: torch.Generator) -> torch.Tensor:
    """Gaussian (probability gaussian_noise_prob) or Poisson noise, grey with gray_noise_prob, drawn per image."""
    n = len(img)

    def draw(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=g, dtype=torch.float64)

    use_gauss = torch.rand(n, generator=g) < stage.gaussian_noise_prob
    grey = torch.rand(n, generator=g) < stage.gray_noise_prob
    sigma, pscale = draw(*stage.noise_range), draw(*stage.poisson_scale_range)
    noise = gaussian_noise(img, sigma, grey, g)
    if not bool(use_gauss.all()):
        pn = poisson_noise(img, pscale, grey, g)
        noise = torch.where(use_gauss.to(img.device).view(n, 1, 1, 1), noise, pn)
    return (img + noise).clamp(0, 1)


def _random_factor(g: torch.Generator, stage: StageConfig) -> float:
    """Resize factor: up U(1, r_hi), down U(r_lo, 1) or keep 1, chosen with resize_prob (Real-ESRGAN Sec. 3.1)."""
    direction = choice(g, stage.resize_prob)
    lo, hi = stage.resize_range
    return uniform(g, 1.0, hi) if direction == 0 else uniform(g, lo, 1.0) if direction == 1 else 1.0


def _jpeg_quality(g: torch.Generator, stage: StageConfig, n: int) -> torch.Tensor:
    """One JPEG quality per image, uniform over the stage's jpeg_range."""
    lo, hi = stage.jpeg_range
    return lo + (hi - lo) * torch.rand(n, generator=g, dtype=torch.float64)


def _high_order(hr: torch.Tensor, scale: int, cfg: DegradationConfig, g: torch.Generator) -> torch.Tensor:
    """One batch through Real-ESRGAN's second-order pipeline, every per-batch choice drawn once."""
    n, _, h, w = hr.shape
    lr_size = (h // scale, w // scale)
    k1 = torch.stack([_blur_kernel(g, cfg.first, cfg.kernel_size) for _ in range(n)])
    k2 = torch.stack([_blur_kernel(g, cfg.second, cfg.kernel_size) for _ in range(n)])
    ks = torch.stack([_final_sinc(g, cfg) for _ in range(n)])

    def mode() -> ResizeMode:
        return cfg.resize_modes[int(torch.randint(len(cfg.resize_modes), (), generator=g))]

    # first stage: blur -> resize -> noise -> JPEG (the classical model, Real-ESRGAN Sec. 3.1)
    out = filter2d(hr, k1)
    f = _random_factor(g, cfg.first)
    out = resize(out, (int(h * f), int(w * f)), mode())
    out = _noise(out, cfg.first, g)
    out = jpeg(out, _jpeg_quality(g, cfg.first, n))
    if cfg.order == 1:
        return quantize(filter2d(resize(out, lr_size, mode()), ks))
    # second stage (the high-order model, Sec. 3.2), its resize aimed at the LR size times a random factor
    out = filter2d(out, k2)
    f = _random_factor(g, cfg.second)
    out = resize(out, (int(h / scale * f), int(w / scale * f)), mode())
    out = _noise(out, cfg.second, g)
    # [resize to LR + final sinc] and JPEG in either order, each with probability 1/2 (Sec. 3.3)
    quality = _jpeg_quality(g, cfg.second, n)
    if uniform(g, 0, 1) < 0.5:
        out = jpeg(filter2d(resize(out, lr_size, mode()), ks), quality)
    else:
        out = filter2d(resize(jpeg(out, quality), lr_size, mode()), ks)
    return quantize(out)


def degrade(hr: torch.Tensor, scale: int, generator: torch.Generator,
            config: DegradationConfig | None = None) -> torch.Tensor:
    """LR batch [N, 3, H / scale, W / scale] in [0, 1] (8-bit levels) from HR [N, 3, H, W] in [0, 1].

    `generator` is a CPU torch.Generator and the only source of randomness: the same seed gives the same output
    (on the same device). H and W must be multiples of `scale`.
    """
    cfg = config or DegradationConfig()
    if hr.ndim != 4 or hr.shape[1] != 3 or not hr.is_floating_point():
        raise UserError(f"degrade: expected a float RGB batch [N, 3, H, W], got {hr.dtype} {tuple(hr.shape)}")
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise UserError(f"degrade: scale must be an integer >= 1, got {scale!r}")
    h, w = hr.shape[-2:]
    if h % scale or w % scale:
        raise UserError(f"degrade: HR size {h}x{w} is not a multiple of the scale {scale}; crop it to "
                        f"{h - h % scale}x{w - w % scale}")
    if cfg.mode == "bicubic":
        return bicubic_downsample(hr, scale)
    if cfg.per_image:
        return torch.cat([_high_order(hr[i:i + 1], scale, cfg, generator) for i in range(len(hr))])
    return _high_order(hr, scale, cfg, generator)


# the pixel operations live in ganforge.data.degradation_ops; they stay importable from here
__all__ = ["KERNELS", "DegradationConfig", "Mode", "ResizeMode", "StageConfig", "bicubic_downsample", "degrade",
           "gaussian_noise", "jpeg", "poisson_noise", "quantize", "resize", "usm_sharpen"]
