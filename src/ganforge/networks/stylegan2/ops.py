"""StyleGAN2 building-block operations in plain PyTorch: FIR resampling (upfirdn2d), fused bias + activation + clamp,
convolution with up/downsampling, and modulated convolution with demodulation.

They follow the semantics of the official `torch_utils.ops` reference paths (same padding, filter orientation and
gains), so weights trained with the official code give the same outputs; no custom CUDA/C++ kernels, any device.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Literal

import torch
import torch.nn.functional as F

Activation = Literal["linear", "relu", "lrelu", "tanh", "sigmoid", "elu", "selu", "softplus", "swish"]
SQRT2 = math.sqrt(2.0)

# Activation -> (function of (x, alpha), default gain, default alpha). The gain keeps the signal's second moment
# roughly unchanged for N(0, 1) inputs (He et al. 2015), as the official `bias_act` defaults do.
_ACTIVATIONS: dict[str, tuple[Callable[[torch.Tensor, float], torch.Tensor], float, float]] = {
    "linear": (lambda x, a: x, 1.0, 0.0),
    "relu": (lambda x, a: F.relu(x), SQRT2, 0.0),
    "lrelu": (lambda x, a: F.leaky_relu(x, a), SQRT2, 0.2),
    "tanh": (lambda x, a: torch.tanh(x), 1.0, 0.0),
    "sigmoid": (lambda x, a: torch.sigmoid(x), 1.0, 0.0),
    "elu": (lambda x, a: F.elu(x), 1.0, 0.0),
    "selu": (lambda x, a: F.selu(x), 1.0, 0.0),
    "softplus": (lambda x, a: F.softplus(x), 1.0, 0.0),
    "swish": (lambda x, a: torch.sigmoid(x) * x, SQRT2, 0.0),
}

Padding = int | Sequence[int]


def default_gain(act: str) -> float:
    """The gain `bias_act` applies by default after activation `act`."""
    return _ACTIVATIONS[act][1]


def bias_act(x: torch.Tensor, b: torch.Tensor | None = None, dim: int = 1, act: str = "linear",
             alpha: float | None = None, gain: float | None = None, clamp: float | None = None) -> torch.Tensor:
    """Add bias `b` along `dim`, apply `act`, multiply by `gain` (default: the activation's), clamp to +-`clamp`."""
    fn, def_gain, def_alpha = _ACTIVATIONS[act]
    if b is not None:
        shape = [-1 if i == dim else 1 for i in range(x.ndim)]
        x = x + b.to(x.dtype).reshape(shape)
    x = fn(x, def_alpha if alpha is None else float(alpha))
    gain = def_gain if gain is None else float(gain)
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def setup_filter(f: Sequence[float] | torch.Tensor | None, normalize: bool = True, flip_filter: bool = False,
                 gain: float = 1.0, separable: bool | None = None,
                 device: torch.device | str | None = None) -> torch.Tensor:
    """A float32 FIR filter for `upfirdn2d`: 1-D taps stay separable when there are >= 8 (or `separable`), otherwise
    become their outer product; normalised to unit DC gain, then scaled so the 2-D filter has total gain `gain`."""
    t = torch.as_tensor(1.0 if f is None else f, dtype=torch.float32)
    if t.ndim == 0:
        t = t.reshape(1)
    if t.ndim > 2 or t.numel() == 0:
        raise ValueError(f"a FIR filter must have 1 or 2 dimensions and some taps, got shape {tuple(t.shape)}")
    if separable is None:
        separable = t.ndim == 1 and t.numel() >= 8
    if t.ndim == 1 and not separable:
        t = torch.outer(t, t)
    if t.ndim != (1 if separable else 2):
        raise ValueError("a 2-D FIR filter cannot be separable")
    if normalize:
        t = t / t.sum()
    if flip_filter:
        t = t.flip(list(range(t.ndim)))
    t = t * gain ** (t.ndim / 2)
    return t if device is None else t.to(device)  # None: the default device (meta too, for size probes)


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(v, int):
        return v, v
    a, b = v
    return int(a), int(b)


def _pad4(padding: Padding) -> tuple[int, int, int, int]:
    """Padding as (x_before, x_after, y_before, y_after) from an int, [x, y] or the four values."""
    if isinstance(padding, int):
        return padding, padding, padding, padding
    p = [int(v) for v in padding]
    if len(p) == 2:
        return p[0], p[0], p[1], p[1]
    if len(p) != 4:
        raise ValueError(f"padding must be an int, [x, y] or [x0, x1, y0, y1], got {padding!r}")
    return p[0], p[1], p[2], p[3]


def _filter_size(f: torch.Tensor | None) -> tuple[int, int]:
    """(width, height) of a filter; a 1-D (separable) filter has the same taps in both directions."""
    if f is None:
        return 1, 1
    return int(f.shape[-1]), int(f.shape[0])


def depthwise_kernel(f: torch.Tensor, channels: int) -> torch.Tensor:
    """A 2-D filter as the weight of a depthwise conv over `channels` channels. The sizes are Python ints, so a
    traced graph (ONNX) gets a kernel of known shape, as its conv ops require."""
    kh, kw = (int(s) for s in f.shape)
    return f.reshape(1, 1, kh, kw).expand(int(channels), 1, kh, kw)


def upfirdn2d(x: torch.Tensor, f: torch.Tensor | None, up: int | Sequence[int] = 1, down: int | Sequence[int] = 1,
              padding: Padding = 0, flip_filter: bool = False, gain: float = 1.0) -> torch.Tensor:
    """Per channel: insert `up - 1` zeros after each pixel, zero-pad (negative = crop), convolve with FIR `f` keeping
    only fully supported outputs, then keep every `down`-th pixel (as scipy.signal.upfirdn, in 2-D)."""
    if f is None:
        f = torch.ones([1, 1], dtype=torch.float32, device=x.device)
    n, c, h, w = x.shape
    upx, upy = _pair(up)
    downx, downy = _pair(down)
    px0, px1, py0, py1 = _pad4(padding)

    if upx > 1 or upy > 1:  # zero insertion: [.., h, 1, w, 1] padded to [.., h, upy, w, upx]
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, upx - 1, 0, 0, 0, upy - 1])
        x = x.reshape(n, c, h * upy, w * upx)
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]

    # conv2d correlates, so a convolution (flip_filter=False) needs the taps reversed.
    f = (f * gain ** (f.ndim / 2)).to(x.dtype)
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))
    if f.ndim == 2:
        x = F.conv2d(x, depthwise_kernel(f, c), groups=c)
    else:
        x = F.conv2d(x, depthwise_kernel(f.reshape(1, -1), c), groups=c)
        x = F.conv2d(x, depthwise_kernel(f.reshape(-1, 1), c), groups=c)
    return x[:, :, ::downy, ::downx]


def upsample2d(x: torch.Tensor, f: torch.Tensor | None, up: int = 2, gain: float = 1.0) -> torch.Tensor:
    """Upsample by `up` with FIR `f`, padded so the output is exactly `up` times the input size."""
    fw, fh = _filter_size(f)
    p = [(fw + up - 1) // 2, (fw - up) // 2, (fh + up - 1) // 2, (fh - up) // 2]
    return upfirdn2d(x, f, up=up, padding=p, gain=gain * up * up)


def downsample2d(x: torch.Tensor, f: torch.Tensor | None, down: int = 2, gain: float = 1.0) -> torch.Tensor:
    """Downsample by `down` with FIR `f`, padded so the output is exactly 1/`down` of the input size."""
    fw, fh = _filter_size(f)
    p = [(fw - down + 1) // 2, (fw - down) // 2, (fh - down + 1) // 2, (fh - down) // 2]
    return upfirdn2d(x, f, down=down, padding=p, gain=gain)


def _conv(x: torch.Tensor, w: torch.Tensor, stride: int = 1, padding: tuple[int, int] = (0, 0), groups: int = 1,
          transpose: bool = False, flip_weight: bool = True) -> torch.Tensor:
    """conv2d (correlation) or its transpose; flip_weight=False turns the correlation into a true convolution."""
    if not flip_weight and (w.shape[2] > 1 or w.shape[3] > 1):
        w = w.flip([2, 3])
    if transpose:
        return F.conv_transpose2d(x, w, stride=stride, padding=padding, groups=groups)
    return F.conv2d(x, w, stride=stride, padding=padding, groups=groups)


def conv2d_resample(x: torch.Tensor, w: torch.Tensor, f: torch.Tensor | None = None, up: int = 1, down: int = 1,
                    padding: Padding = 0, groups: int = 1, flip_weight: bool = True,
                    flip_filter: bool = False) -> torch.Tensor:
    """Convolution with FIR-filtered up/downsampling, padding applied once at the start (StyleGAN2 Sec. 2 / App. B:
    bilinear-style [1,3,3,1] resampling around the convolution). Picks the cheapest equivalent order of operations."""
    out_ch, in_per_group, kh, kw = w.shape
    fw, fh = _filter_size(f)
    px0, px1, py0, py1 = _pad4(padding)
    if up > 1:  # the FIR after upsampling needs this much extra border
        px0, px1 = px0 + (fw + up - 1) // 2, px1 + (fw - up) // 2
        py0, py1 = py0 + (fh + up - 1) // 2, py1 + (fh - up) // 2
    if down > 1:
        px0, px1 = px0 + (fw - down + 1) // 2, px1 + (fw - down) // 2
        py0, py1 = py0 + (fh - down + 1) // 2, py1 + (fh - down) // 2
    pad = [px0, px1, py0, py1]

    if kw == 1 and kh == 1 and down > 1 and up == 1:  # 1x1: filter and decimate first, then the cheap conv
        x = upfirdn2d(x, f, down=down, padding=pad, flip_filter=flip_filter)
        return _conv(x, w, groups=groups, flip_weight=flip_weight)
    if kw == 1 and kh == 1 and up > 1 and down == 1:  # 1x1: conv at low resolution, then upsample
        x = _conv(x, w, groups=groups, flip_weight=flip_weight)
        return upfirdn2d(x, f, up=up, padding=pad, gain=up * up, flip_filter=flip_filter)
    if down > 1 and up == 1:  # filter, then a strided conv does the decimation
        x = upfirdn2d(x, f, padding=pad, flip_filter=flip_filter)
        return _conv(x, w, stride=down, groups=groups, flip_weight=flip_weight)
    if up > 1:  # a strided transposed conv does zero insertion + conv; the FIR runs on its output
        if groups == 1:
            wt = w.transpose(0, 1)
        else:
            wt = w.reshape(groups, out_ch // groups, in_per_group, kh, kw).transpose(1, 2)
            wt = wt.reshape(groups * in_per_group, out_ch // groups, kh, kw)
        px0, px1, py0, py1 = px0 - (kw - 1), px1 - (kw - up), py0 - (kh - 1), py1 - (kh - up)
        pxt, pyt = max(min(-px0, -px1), 0), max(min(-py0, -py1), 0)
        # conv_transpose2d scatters the kernel: a true convolution, hence the inverted flip.
        x = _conv(x, wt, stride=up, padding=(pyt, pxt), groups=groups, transpose=True, flip_weight=not flip_weight)
        x = upfirdn2d(x, f, padding=[px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt], gain=up * up,
                      flip_filter=flip_filter)
        return upfirdn2d(x, f, down=down, flip_filter=flip_filter) if down > 1 else x
    if px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:  # plain conv with symmetric padding
        return _conv(x, w, padding=(py0, px0), groups=groups, flip_weight=flip_weight)
    x = upfirdn2d(x, None, padding=pad, flip_filter=flip_filter)
    x = _conv(x, w, groups=groups, flip_weight=flip_weight)
    return upfirdn2d(x, f, down=down, flip_filter=flip_filter) if down > 1 else x


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, noise: torch.Tensor | None = None,
                     up: int = 1, down: int = 1, padding: int = 0, resample_filter: torch.Tensor | None = None,
                     demodulate: bool = True, flip_weight: bool = True, fused_modconv: bool = True) -> torch.Tensor:
    """StyleGAN2 weight (de)modulation: per-sample weights scaled by `styles` [N, I], optionally normalised to unit
    output norm, plus `noise`. Fused: one grouped conv with per-sample weights; else scale activations around it.
    Traced graphs (ONNX, TorchScript) always take the unfused path: its ops do not depend on the batch size, while
    the grouped conv's `groups=N` would be frozen to the example batch (equal up to float rounding)."""
    n = x.shape[0]
    fused_modconv = fused_modconv and not torch.jit.is_tracing()
    _, in_ch, kh, kw = weight.shape
    if x.dtype == torch.float16 and demodulate:  # keep fp16 in range; demodulation cancels the rescaling
        weight = weight * (1 / math.sqrt(in_ch * kh * kw) / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)

    w = dcoefs = None
    if demodulate or fused_modconv:
        w = weight.unsqueeze(0) * styles.reshape(n, 1, -1, 1, 1)  # Karras et al. 2020 (StyleGAN2) eq. 1: w' = s_i w
    if demodulate:
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # StyleGAN2 eq. 2-3: sigma_j = sqrt(sum w'^2)
    if not fused_modconv:
        x = x * styles.to(x.dtype).reshape(n, -1, 1, 1)
        x = conv2d_resample(x, weight.to(x.dtype), resample_filter, up=up, down=down, padding=padding,
                            flip_weight=flip_weight)
        if dcoefs is not None:
            x = x * dcoefs.to(x.dtype).reshape(n, -1, 1, 1)
        return x + noise.to(x.dtype) if noise is not None else x

    if dcoefs is not None:
        w = w * dcoefs.reshape(n, -1, 1, 1, 1)  # StyleGAN2 eq. 3: w'' = w' / sigma_j
    x = x.reshape(1, -1, *x.shape[2:])
    x = conv2d_resample(x, w.reshape(-1, in_ch, kh, kw).to(x.dtype), resample_filter, up=up, down=down,
                        padding=padding, groups=n, flip_weight=flip_weight)
    x = x.reshape(n, -1, *x.shape[2:])
    return x + noise.to(x.dtype) if noise is not None else x


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Scale each vector to unit mean square (StyleGAN's pixel norm of z and of the embedded label)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()
