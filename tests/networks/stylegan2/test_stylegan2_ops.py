"""StyleGAN2 ops against direct definitions: upfirdn2d as explicit loops, resampling paths against each other,
fused vs non-fused modulated convolution, bias_act gains and clamp."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganforge.networks.stylegan2.ops import (
    bias_act,
    conv2d_resample,
    downsample2d,
    modulated_conv2d,
    setup_filter,
    upfirdn2d,
    upsample2d,
)


def _upfirdn_loops(x: np.ndarray, f: np.ndarray, up: int, down: int, pad: tuple[int, int, int, int]) -> np.ndarray:
    """The definition: zero insertion, zero pad / crop, true 2-D convolution (valid part), decimation."""
    n, c, h, w = x.shape
    u = np.zeros((n, c, h * up, w * up))
    u[:, :, ::up, ::up] = x
    px0, px1, py0, py1 = pad
    u = np.pad(u, ((0, 0), (0, 0), (max(py0, 0), max(py1, 0)), (max(px0, 0), max(px1, 0))))
    u = u[:, :, max(-py0, 0): u.shape[2] - max(-py1, 0), max(-px0, 0): u.shape[3] - max(-px1, 0)]
    fh, fw = f.shape
    out = np.zeros((n, c, u.shape[2] - fh + 1, u.shape[3] - fw + 1))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):  # convolution: the filter is reversed against the window
            out[:, :, i, j] = (u[:, :, i:i + fh, j:j + fw] * f[::-1, ::-1]).sum(axis=(2, 3))
    return out[:, :, ::down, ::down]


@pytest.mark.parametrize(("up", "down", "pad"), [(1, 1, (1, 2, 0, 1)), (2, 1, (2, 1, 2, 1)), (1, 2, (1, 1, 1, 1)),
                                                 (2, 2, (1, 2, 1, 2)), (1, 1, (-1, 2, 1, -1))])
def test_upfirdn2d_matches_definition(up: int, down: int, pad: tuple[int, int, int, int]) -> None:
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64)
    f2 = torch.tensor([[1.0, 2.0, 0.5], [0.0, 3.0, 1.0]], dtype=torch.float64)  # asymmetric: catches a flip
    want = _upfirdn_loops(x.numpy(), f2.numpy(), up, down, pad)
    got = upfirdn2d(x, f2, up=up, down=down, padding=pad)
    np.testing.assert_allclose(got.numpy(), want, atol=1e-10)
    flipped = upfirdn2d(x, f2.flip([0, 1]), up=up, down=down, padding=pad, flip_filter=True)
    np.testing.assert_allclose(flipped.numpy(), want, atol=1e-10)


def test_separable_filter_equals_outer_product() -> None:
    taps = [1.0, 2.0, 4.0, 5.0, 3.0, 1.0, 1.0, 2.0]
    f1, f2 = setup_filter(taps), setup_filter(taps, separable=False)
    assert f1.ndim == 1 and f2.ndim == 2 and float(f2.sum()) == pytest.approx(1.0)
    x = torch.randn(1, 2, 9, 9)
    torch.testing.assert_close(upfirdn2d(x, f1, up=2, padding=3, gain=4), upfirdn2d(x, f2, up=2, padding=3, gain=4))
    assert setup_filter([1, 3, 3, 1]).shape == (4, 4)  # short 1-D taps become 2-D by default
    assert float(setup_filter([1, 1], gain=4).sum()) == pytest.approx(4.0)


def test_resampling_keeps_constants_and_sizes() -> None:
    f = setup_filter([1, 3, 3, 1])
    x = torch.ones(1, 1, 8, 8)
    up, down = upsample2d(x, f), downsample2d(x, f)
    assert up.shape[-1] == 16 and down.shape[-1] == 4
    torch.testing.assert_close(up[..., 2:-2, 2:-2], torch.ones_like(up[..., 2:-2, 2:-2]))  # DC gain 1 inside
    torch.testing.assert_close(down[..., 1:-1, 1:-1], torch.ones_like(down[..., 1:-1, 1:-1]))


@pytest.mark.parametrize(("k", "up", "down", "flip_weight"),
                         [(3, 2, 1, False), (3, 2, 1, True), (3, 1, 2, True), (1, 1, 2, True), (1, 2, 1, True),
                          (3, 2, 2, True), (3, 1, 1, False)])
def test_conv2d_resample_paths_match_generic(k: int, up: int, down: int, flip_weight: bool) -> None:
    """Each fast path equals the generic order: upsample with the FIR, convolve, filter + decimate."""
    torch.manual_seed(1)
    x, w, f = torch.randn(2, 4, 8, 8, dtype=torch.float64), torch.randn(6, 4, k, k, dtype=torch.float64), None
    f = setup_filter([1, 3, 3, 1]).double()
    got = conv2d_resample(x, w, f, up=up, down=down, padding=k // 2, flip_weight=flip_weight)
    p = k // 2
    fw = 4
    px0, px1 = p, p
    if up > 1:
        px0, px1 = px0 + (fw + up - 1) // 2, px1 + (fw - up) // 2
    if down > 1:
        px0, px1 = px0 + (fw - down + 1) // 2, px1 + (fw - down) // 2
    y = upfirdn2d(x, f if up > 1 else None, up=up, padding=[px0, px1, px0, px1], gain=up * up)
    y = F.conv2d(y, w if flip_weight else w.flip([2, 3]))
    want = upfirdn2d(y, f, down=down) if down > 1 else y
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize("up", [1, 2])
def test_modulated_conv_fused_equals_unfused(up: int) -> None:
    torch.manual_seed(2)
    x, w = torch.randn(3, 5, 6, 6, dtype=torch.float64), torch.randn(4, 5, 3, 3, dtype=torch.float64)
    s, noise = torch.randn(3, 5, dtype=torch.float64), torch.randn(6 * up, 6 * up, dtype=torch.float64)
    f = setup_filter([1, 3, 3, 1]).double()
    kw = {"up": up, "padding": 1, "resample_filter": f, "flip_weight": up == 1, "noise": noise}
    for demod in (True, False):
        a = modulated_conv2d(x, w, s, demodulate=demod, fused_modconv=True, **kw)
        b = modulated_conv2d(x, w, s, demodulate=demod, fused_modconv=False, **kw)
        torch.testing.assert_close(a, b)
    # Demodulation (StyleGAN2 eq. 3): each output map has unit weight norm whatever the style.
    y = modulated_conv2d(x[:1], w[:1], s[:1] * 7.0)
    wm = w[:1] * s[:1].reshape(1, -1, 1, 1) * 7.0
    torch.testing.assert_close(y, F.conv2d(x[:1], wm / wm.square().sum().add(1e-8).sqrt(), padding=0))


def test_bias_act_gain_and_clamp() -> None:
    x = torch.linspace(-3, 3, 13).reshape(1, 13, 1, 1)
    b = torch.full([13], 0.5)
    y = bias_act(x, b, act="lrelu")
    torch.testing.assert_close(y, F.leaky_relu(x + 0.5, 0.2) * math.sqrt(2))
    torch.testing.assert_close(bias_act(x, act="lrelu", gain=2.0, clamp=1.0), (F.leaky_relu(x, 0.2) * 2).clamp(-1, 1))
    torch.testing.assert_close(bias_act(x), x)
    assert bias_act(x, act="relu").min() == 0
