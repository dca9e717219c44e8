"""StyleGAN3 operations in plain PyTorch: low-pass filter design, the filtered leaky ReLU and the modulated convolution
with input gain (Karras et al. 2021, "Alias-Free GAN"). They follow the semantics of the official reference paths
(`torch_utils.ops.filtered_lrelu` with impl='ref'), built on ganforge's StyleGAN2 `upfirdn2d` and `bias_act`."""

from __future__ import annotations

import math

import numpy as np
import scipy.signal
import scipy.special
import torch
import torch.nn.functional as F

from ganforge.networks.stylegan2.ops import bias_act, depthwise_kernel, upfirdn2d


def design_lowpass_filter(numtaps: int, cutoff: float, width: float, fs: float,
                          radial: bool = False) -> torch.Tensor | None:
    """A float32 low-pass FIR filter with unit DC gain; None for a single tap (identity).

    Alias-Free GAN Sec. 3, "Filtered nonlinearities": a Kaiser-windowed sinc, separable (1-D taps used along both
    axes). Sec. 3, "Rotation equivariance" (config R): a radially symmetric jinc, 2J1(2 pi f_c r) / (2 pi r) up to
    scale, under the same Kaiser window in x and y, as a full 2-D filter.
    """
    if numtaps < 1:
        raise ValueError(f"a low-pass filter needs at least one tap, got {numtaps}")
    if numtaps == 1:
        return None
    if not radial:
        return torch.as_tensor(scipy.signal.firwin(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs),
                               dtype=torch.float32)
    pos = (np.arange(numtaps) - (numtaps - 1) / 2) / fs  # tap positions in units of the signal's pixels
    r = np.hypot(pos[None, :], pos[:, None])
    safe = np.where(r > 0, r, 1.0)
    jinc = np.where(r > 0, scipy.special.j1(2 * np.pi * cutoff * safe) / (np.pi * safe), cutoff)  # limit at r = 0
    # Kaiser window with the attenuation a firwin of this width and length would get.
    beta = scipy.signal.kaiser_beta(scipy.signal.kaiser_atten(numtaps, width / (fs / 2)))
    window = np.kaiser(numtaps, beta)
    f = jinc * np.outer(window, window)
    return torch.as_tensor(f / f.sum(), dtype=torch.float32)


def _window(y: torch.Tensor, dim: int, start: int, length: int) -> torch.Tensor:
    """y[start : start + length] along `dim`, zeros where that runs outside y."""
    lo, hi = max(-start, 0), max(start + length - y.shape[dim], 0)
    if lo or hi:
        y = F.pad(y, [lo, hi] if dim == 3 else [0, 0, lo, hi])
    return y.narrow(dim, start + lo, length)


def _upsample(x: torch.Tensor, f: torch.Tensor, up: int, padding: tuple[int, int, int, int]) -> torch.Tensor:
    """upfirdn2d(x, f, up=up, padding=padding, gain=up**2) as transposed convolutions, which skip the inserted
    zeros: a strided transposed conv is zero insertion followed by a full convolution, then a window of it."""
    c, (h, w) = x.shape[1], x.shape[2:]
    px0, px1, py0, py1 = padding
    kernels = [f.reshape(1, -1) * up, f.reshape(-1, 1) * up] if f.ndim == 1 else [f * up**2]
    for k in kernels:
        sy, sx = (up if k.shape[0] > 1 else 1), (up if k.shape[1] > 1 else 1)
        x = F.conv_transpose2d(x, depthwise_kernel(k.to(x.dtype), c), stride=(sy, sx), groups=c)
        if sx > 1:  # output i of upfirdn2d is element i + taps - 1 - pad_before of the full convolution
            x = _window(x, 3, k.shape[1] - 1 - px0, w * up + px0 + px1 - k.shape[1] + 1)
        if sy > 1:
            x = _window(x, 2, k.shape[0] - 1 - py0, h * up + py0 + py1 - k.shape[0] + 1)
    return x


def _downsample(x: torch.Tensor, f: torch.Tensor, down: int) -> torch.Tensor:
    """upfirdn2d(x, f, down=down) as strided convolutions, which compute only the samples that are kept."""
    c = x.shape[1]
    kernels = [f.reshape(1, -1), f.reshape(-1, 1)] if f.ndim == 1 else [f]
    for k in kernels:  # conv2d correlates: flip the taps for a convolution
        stride = (down if k.shape[0] > 1 else 1, down if k.shape[1] > 1 else 1)
        x = F.conv2d(x, depthwise_kernel(k.flip([0, 1]).to(x.dtype), c), stride=stride, groups=c)
    return x


def filtered_lrelu(x: torch.Tensor, fu: torch.Tensor | None, fd: torch.Tensor | None, b: torch.Tensor | None,
                   up: int = 1, down: int = 1, padding: tuple[int, int, int, int] = (0, 0, 0, 0),
                   gain: float = math.sqrt(2), slope: float = 0.2, clamp: float | None = None) -> torch.Tensor:
    """Bias, upsample by `up` with FIR `fu` (zero-padded by `padding` = x0, x1, y0, y1), scale by `gain`, leaky
    ReLU, clamp, low-pass with `fd`, keep every `down`-th pixel (the official op; filters None = identity).

    Alias-Free GAN Sec. 3, "Filtered nonlinearities": the pointwise nonlinearity creates frequencies above the
    Nyquist limit, so it runs at a higher sampling rate between an interpolation and a low-pass decimation filter.
    """
    if b is not None:
        x = x + b.to(x.dtype).reshape(1, -1, 1, 1)
    if fu is not None and up > 1:
        x = _upsample(x, fu, up, padding)
    else:
        x = upfirdn2d(x, fu, up=up, padding=list(padding), gain=up**2)
    x = bias_act(x, act="lrelu", alpha=slope, gain=gain, clamp=clamp)
    return _downsample(x, fd, down) if fd is not None else upfirdn2d(x, None, down=down)


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool = True,
                     padding: int = 0, input_gain: torch.Tensor | None = None) -> torch.Tensor:
    """Per-sample modulated (and demodulated) convolution as one grouped conv, inputs scaled by `input_gain`.

    StyleGAN2 eq. 1-3 (w' = s w, w'' = w' / sqrt(sum w'^2)); Alias-Free GAN Sec. 3, "Baseline simplifications"
    (config C): the input is divided by the running RMS of the layer's input (`input_gain` = 1 / sqrt(EMA of x^2)).
    Weight and styles are first scaled to unit RMS; demodulation cancels that, it only keeps float16 in range.
    Traced graphs (ONNX, TorchScript) scale the activations around one shared conv instead: the grouped conv's
    `groups=N` would be frozen to the example batch (equal up to float rounding).
    """
    n = x.shape[0]
    out_ch, in_ch, kh, kw = weight.shape
    if demodulate:
        weight = weight * weight.square().mean(dim=[1, 2, 3], keepdim=True).rsqrt()
        # Per sample (the official code takes the RMS over the whole batch): equal up to the 1e-8 below.
        styles = styles * styles.square().mean(dim=1, keepdim=True).rsqrt()
    w = weight.unsqueeze(0) * styles.reshape(n, 1, in_ch, 1, 1)
    dcoefs = (w.square().sum(dim=[2, 3, 4], keepdim=True) + 1e-8).rsqrt() if demodulate else None
    if torch.jit.is_tracing():
        gain = styles
        if input_gain is not None:
            gain = gain * input_gain.reshape(-1, in_ch) if input_gain.ndim else gain * input_gain
        x = F.conv2d(x * gain.to(x.dtype).reshape(n, in_ch, 1, 1), weight.to(x.dtype), padding=padding)
        return x * dcoefs.to(x.dtype).reshape(n, out_ch, 1, 1) if dcoefs is not None else x
    if dcoefs is not None:
        w = w * dcoefs
    if input_gain is not None:
        w = w * input_gain.reshape(-1, 1, in_ch, 1, 1) if input_gain.ndim else w * input_gain
    x = F.conv2d(x.reshape(1, n * in_ch, *x.shape[2:]), w.reshape(n * out_ch, in_ch, kh, kw).to(x.dtype),
                 padding=padding, groups=n)
    return x.reshape(n, out_ch, *x.shape[2:])
