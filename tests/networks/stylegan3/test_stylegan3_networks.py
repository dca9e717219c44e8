"""Freshly initialised StyleGAN3 generators of tiny configs (no fixtures): shapes, determinism, gradients for
fine-tuning, EMA updates, the filtered leaky ReLU against its definition, config R's radially symmetric filters and
rotation equivariance, config T's translation equivariance, and config validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
import torch

from ganforge.errors import UserError
from ganforge.networks.stylegan2.ops import upfirdn2d
from ganforge.networks.stylegan3 import Generator, StyleGAN3Config
from ganforge.networks.stylegan3.ops import design_lowpass_filter, filtered_lrelu, modulated_conv2d

TINY = {"z_dim": 16, "w_dim": 16, "img_resolution": 16, "channel_base": 512, "channel_max": 16, "num_layers": 6,
        "margin_size": 4}


def _generator(variant: str, **changes: object) -> Generator:
    torch.manual_seed(0)
    return Generator(StyleGAN3Config(**{**TINY, **changes}, config=variant)).eval()  # type: ignore[arg-type]


def _set_transform(g: Generator, angle: float = 0.0, tx: float = 0.0, ty: float = 0.0) -> None:
    m = [[math.cos(angle), -math.sin(angle), tx], [math.sin(angle), math.cos(angle), ty], [0.0, 0.0, 1.0]]
    g.synthesis.input.transform.copy_(torch.tensor(m))


@pytest.mark.parametrize("variant", ["t", "r"])
def test_shapes_determinism_and_conditioning(variant: str) -> None:
    g = _generator(variant, c_dim=3)
    names = g.synthesis.layer_names
    assert names == ["L0_24_16", "L1_24_16", "L2_24_16", "L3_24_16", "L4_24_16", "L5_16_16", "L6_16_3"]
    assert g.num_ws == 8 and g.synthesis.L0_24_16.weight.shape[-1] == (3 if variant == "t" else 1)
    z, c = torch.randn(3, 16), torch.eye(3)
    with torch.no_grad():
        img = g(z, c)
        assert img.shape == (3, 3, 16, 16) and img.dtype == torch.float32 and torch.isfinite(img).all()
        torch.testing.assert_close(g(z, c), img, atol=0, rtol=0)  # no noise inputs: deterministic
        torch.testing.assert_close(g(z[1:2], c[1:2]), img[1:2], atol=1e-5, rtol=0)  # independent of the batch
        assert not torch.allclose(g(z, c.roll(1, 0)), img)  # the label matters
        with pytest.raises(ValueError, match="ws must have shape"):
            g.synthesis(torch.randn(2, 3, 16))
        with pytest.raises(ValueError, match="noise_mode"):
            g(z, c, noise_mode="loud")  # type: ignore[arg-type]


def test_gradients_flow_and_emas_update_in_training() -> None:
    g = _generator("t").train()
    before = {k: v.clone() for k, v in g.named_buffers() if k.endswith(("magnitude_ema", "w_avg"))}
    img = g(torch.randn(2, 16))
    img.square().mean().backward()
    # Every parameter, the zero-initialised input affine included, gets a finite non-zero gradient.
    bad = [n for n, p in g.named_parameters()
           if p.grad is None or not torch.isfinite(p.grad).all() or not p.grad.abs().sum() > 0]
    assert not bad
    changed = [k for k, v in g.named_buffers() if k in before and not torch.equal(v, before[k])]
    assert sorted(changed) == sorted(before)  # every magnitude EMA and w_avg moved
    frozen = {k: v.clone() for k, v in g.named_buffers() if k in before}
    with torch.no_grad():
        g(torch.randn(2, 16), update_emas=False)
        g.eval()(torch.randn(2, 16))
    assert all(torch.equal(v, frozen[k]) for k, v in g.named_buffers() if k in frozen)


def test_truncation() -> None:
    g = _generator("t")
    with torch.no_grad():
        g.mapping.w_avg.normal_()
        z = torch.randn(2, 16)
        w = g.mapping(z, None)
        torch.testing.assert_close(g.mapping(z, None, truncation_psi=0.0), g.mapping.w_avg.expand_as(w))
        cut = g.mapping(z, None, truncation_psi=0.5, truncation_cutoff=3)
        torch.testing.assert_close(cut[:, :3], g.mapping.w_avg + 0.5 * (w[:, :3] - g.mapping.w_avg))
        torch.testing.assert_close(cut[:, 3:], w[:, 3:])


@pytest.mark.parametrize(("size", "up", "down", "pad", "radial_up", "radial_down"), [
    (12, 2, 2, (4, 3, 4, 3), False, True), (16, 4, 2, (-6, -9, -6, -9), False, False),  # as L0 and L5 of the fixture
    (30, 2, 2, (-11, -12, -11, -12), False, False), (6, 2, 1, (3, 2, 1, 4), True, False),
    (5, 1, 1, (0, 0, 0, 0), None, None)])
def test_filtered_lrelu_matches_its_definition(size: int, up: int, down: int, pad: tuple[int, int, int, int],
                                               radial_up: bool | None, radial_down: bool | None) -> None:
    """Bias, zero insertion, padding, FIR, gain, lrelu, clamp, FIR, decimation, step by step in float64."""
    torch.manual_seed(1)
    x, b = torch.randn(2, 3, size, size, dtype=torch.float64), torch.randn(3, dtype=torch.float64)
    fu = None if radial_up is None else design_lowpass_filter(6 * up, 1.0, 2.0, 4 * up, radial=radial_up).double()
    fd = None if radial_down is None else design_lowpass_filter(6 * down, 1.5, 1.0, 8, radial=radial_down).double()
    got = filtered_lrelu(x, fu, fd, b, up=up, down=down, padding=pad, gain=1.5, slope=0.2, clamp=0.8)
    u = torch.zeros(2, 3, size * up, size * up, dtype=torch.float64)
    u[:, :, ::up, ::up] = x + b.reshape(1, 3, 1, 1)
    u = upfirdn2d(u, fu, padding=list(pad), gain=up**2)
    u = (torch.where(u >= 0, u, 0.2 * u) * 1.5).clamp(-0.8, 0.8)
    torch.testing.assert_close(got, upfirdn2d(u, fd)[:, :, ::down, ::down])


def test_modulated_conv_demodulates_to_unit_norm() -> None:
    """Demodulated weights have unit norm per output channel, so a unit-variance input keeps unit variance."""
    w, s = torch.randn(8, 16, 3, 3), torch.rand(4, 16) + 0.5
    x = torch.randn(4, 16, 64, 64)
    y = modulated_conv2d(x, w, s, padding=0)
    assert abs(float(y.std()) - 1) < 0.05
    half = modulated_conv2d(x, w, s, padding=0, input_gain=torch.tensor(0.5))
    torch.testing.assert_close(half, 0.5 * y, atol=1e-5, rtol=1e-5)


def test_lowpass_filters() -> None:
    f = design_lowpass_filter(12, 2.0, 12.0, 32)
    np.testing.assert_allclose(f.numpy(), scipy.signal.firwin(12, 2.0, width=12.0, fs=32), atol=1e-7)
    assert design_lowpass_filter(1, 2.0, 1.0, 32) is None
    assert float(f.sum()) == pytest.approx(1.0)


def test_config_r_filters_are_radially_symmetric() -> None:
    g = _generator("r")
    radial = [layer for name in g.synthesis.layer_names if (layer := getattr(g.synthesis, name)).down_radial]
    assert [layer.spec.name for layer in radial] == ["L0_24_16", "L1_24_16", "L2_24_16", "L3_24_16"]  # non-critical
    for layer in radial:
        f = layer.down_filter.double()
        n = f.shape[0]
        assert f.shape == (n, n) and float(f.sum()) == pytest.approx(1.0)
        for sym in (f.T, f.flip(0), f.flip(1)):  # the square's symmetries
            torch.testing.assert_close(sym, f, atol=0, rtol=0)
        # Divided by the separable Kaiser window, the taps depend on the radius only (the jinc).
        fs = max(layer.spec.in_sampling_rate, layer.spec.out_sampling_rate) * 2  # the nonlinearity's rate
        beta = scipy.signal.kaiser_beta(scipy.signal.kaiser_atten(n, layer.spec.out_half_width * 2 / (fs / 2)))
        window = torch.from_numpy(np.kaiser(n, beta))
        core = f / torch.outer(window, window)
        pos = torch.arange(n, dtype=torch.float64) - (n - 1) / 2
        r2 = (pos[None] ** 2 + pos[:, None] ** 2).round(decimals=6)
        for radius in r2.unique():
            vals = core[r2 == radius]
            assert float(vals.max() - vals.min()) <= 1e-6 * float(core.abs().max())
    assert g.synthesis.L5_16_16.down_filter.ndim == 1  # critically sampled: separable


@torch.no_grad()
def test_config_r_is_rotation_equivariant_and_t_is_not() -> None:
    """Rotating the input Fourier features by 90 degrees rotates config R's image (1x1 convs, symmetric filters)."""
    z = torch.randn(2, 16)
    errors = {}
    for variant in ("r", "t"):
        g = _generator(variant)
        img = g(z)
        _set_transform(g, angle=math.pi / 2)  # inverse transform of the image: a counter-clockwise quarter turn
        errors[variant] = float((g(z) - torch.rot90(img, 1, dims=(2, 3))).abs().max() / img.abs().max())
    assert errors["r"] < 1e-5 and errors["t"] > 0.05, errors


@torch.no_grad()
def test_config_t_is_translation_equivariant_inside_the_image() -> None:
    """Translating the Fourier features by one output pixel shifts config T's image by one pixel, up to the border."""
    g = _generator("t")
    z = torch.randn(2, 16)
    img = g(z)
    _set_transform(g, tx=1 / 16)  # inverse transform: the content moves one pixel (1/16 of the image) to the left
    err = (g(z) - torch.roll(img, -1, dims=3))[..., 3:-3, 3:-3].abs().max()
    assert float(err) < 0.05 * float(img.abs().max())


@pytest.mark.parametrize(("changes", "message"), [
    ({"img_resolution": 24}, "power of two"), ({"config": "x"}, "config must be one of"),
    ({"num_critical": 6}, "num_critical"), ({"w_avg_beta": 1.5}, "w_avg_beta"), ({"z_dim": -1}, "z_dim"),
    ({"conv_clamp": 0}, "conv_clamp"), ({"first_cutoff": 8}, "first_cutoff"), ({"channel_base": 1}, "channel_base"),
    ({"output_scale": float("nan")}, "output_scale")])
def test_config_validation(changes: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        StyleGAN3Config(**{**TINY, **changes})
    cfg = StyleGAN3Config(**TINY, config="r")
    assert cfg.conv_kernel == 1 and cfg.use_radial_filters and cfg.num_ws == 8
