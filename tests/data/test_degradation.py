"""Real-ESRGAN degradation: determinism, shapes, kernels, noise statistics, JPEG, bicubic mode and config checks."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from ganforge.data.degradation import (
    DegradationConfig,
    StageConfig,
    bicubic_downsample,
    degrade,
    gaussian_noise,
    jpeg,
    poisson_noise,
    usm_sharpen,
)
from ganforge.data.degradation_kernels import (
    filter2d,
    gaussian_kernel,
    generalized_gaussian_kernel,
    random_mixed_kernel,
    sinc_kernel,
)
from ganforge.errors import UserError

KINDS = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def texture(n: int = 2, h: int = 32, w: int = 32, seed: int = 0) -> torch.Tensor:
    """A luminance texture (waves + noise) with a smooth colour tint, [n, 3, h, w] in [0, 1]."""
    g = gen(seed)
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    lum = 0.5 + 0.25 * torch.sin(xx * 0.9) * torch.cos(yy * 0.7) + 0.1 * torch.randn(n, 1, h, w, generator=g)
    tint = torch.stack([torch.full((h, w), 0.1), xx / w * 0.1, yy / h * 0.1])
    return (lum * 0.8 + tint).clamp(0, 1)


def on_8bit_grid(x: torch.Tensor) -> bool:
    return bool(torch.allclose(x * 255, (x * 255).round(), atol=1e-4))


@pytest.mark.parametrize("cfg", [DegradationConfig(), DegradationConfig(order=1), DegradationConfig(per_image=True)],
                         ids=["order2", "order1", "per_image"])
def test_same_seed_same_output(cfg):
    hr = texture(3)
    a, b = degrade(hr, 4, gen(7), cfg), degrade(hr, 4, gen(7), cfg)
    assert torch.equal(a, b)
    assert not torch.equal(a, degrade(hr, 4, gen(8), cfg))


@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("mode", ["realesrgan", "bicubic"])
def test_shapes_and_range(scale, mode):
    hr = texture(3, 32, 48)
    lr = degrade(hr, scale, gen(1), DegradationConfig(mode=mode))
    assert lr.shape == (3, 3, 32 // scale, 48 // scale) and lr.dtype == torch.float32
    assert lr.min() >= 0 and lr.max() <= 1 and on_8bit_grid(lr)


def test_tiny_images_survive_kernels_larger_than_the_image():
    lr = degrade(texture(2, 8, 8), 4, gen(2))  # 21-tap kernels on images down to 1-2 px: replicate padding
    assert lr.shape == (2, 3, 2, 2) and torch.isfinite(lr).all()


def test_degradation_changes_the_image_more_than_bicubic():
    hr = texture(4, 64, 64)
    ref = bicubic_downsample(hr, 4)
    real = degrade(hr, 4, gen(3))
    assert (real - ref).abs().mean() > 0.01  # blur, noise and JPEG leave a visible trace


@pytest.mark.parametrize("kind", KINDS)
def test_kernel_types_sum_to_one_and_are_symmetric(kind):
    for seed in range(5):
        k = random_mixed_kernel(gen(seed), 21, (kind,), (1.0,), (0.2, 3.0), (0.5, 4.0), (1.0, 2.0))
        assert k.shape == (21, 21) and abs(float(k.sum()) - 1) < 1e-5 and (k >= 0).all()
        assert torch.allclose(k, k.flip(0, 1), atol=1e-7)  # every kernel is point-symmetric about its centre
        if kind.endswith("_iso") or kind == "iso":
            c = 10  # radially symmetric: equal values at equal radius, e.g. (3, 4), (5, 0) and (0, 5) all at r = 5
            assert torch.allclose(k, k.T, atol=1e-7)
            r5 = torch.stack([k[c + 3, c + 4], k[c + 5, c], k[c, c - 5], k[c - 4, c + 3]])
            assert torch.allclose(r5, r5[0].expand(4), atol=1e-7)


def test_anisotropic_kernel_is_stretched_along_its_axis():
    k = gaussian_kernel(21, 3.0, 0.8, theta=0.0)  # wide along x (columns), narrow along y
    assert k[10, 13] > 5 * k[13, 10]
    rotated = gaussian_kernel(21, 3.0, 0.8, theta=math.pi / 2)
    assert torch.allclose(rotated, k.T, atol=1e-6)


def test_generalized_gaussian_with_beta_one_is_the_gaussian():
    assert torch.allclose(generalized_gaussian_kernel(15, 1.7, 1.1, 0.4, beta=1.0), gaussian_kernel(15, 1.7, 1.1, 0.4),
                          atol=1e-7)


@pytest.mark.parametrize("cutoff", [math.pi / 3, math.pi / 2])
def test_sinc_kernel_is_a_radially_symmetric_low_pass(cutoff):
    k = sinc_kernel(21, cutoff)
    assert abs(float(k.sum()) - 1) < 1e-5 and torch.allclose(k, k.T, atol=1e-7)
    c = 10
    r5 = torch.stack([k[c + 3, c + 4], k[c + 5, c], k[c, c - 5]])
    assert torch.allclose(r5, r5[0].expand(3), atol=1e-7)
    spectrum = torch.fft.fft2(k, s=(64, 64)).abs()
    f = torch.fft.fftfreq(64) * 2 * math.pi
    radius = torch.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    assert spectrum[radius < 0.7 * cutoff].mean() > 0.9  # pass band kept
    assert spectrum[radius > 1.3 * cutoff].mean() < 0.05  # stop band removed
    padded = sinc_kernel(9, cutoff, pad_to=21)
    assert padded.shape == (21, 21) and padded[:6].abs().sum() == 0


def test_filter_with_pulse_and_box_kernels():
    x = texture(2, 16, 16)
    pulse = torch.zeros(5, 5)
    pulse[2, 2] = 1
    assert torch.allclose(filter2d(x, pulse), x)
    flat = torch.full((2, 3, 16, 16), 0.3)
    assert torch.allclose(filter2d(flat, torch.full((2, 5, 5), 1 / 25)), flat, atol=1e-6)  # mean-preserving


def test_gaussian_noise_sigma_on_a_flat_image():
    img = torch.full((2, 3, 64, 64), 0.5)
    noise = gaussian_noise(img, torch.tensor([10.0, 25.0]), torch.tensor([False, True]), gen(0))
    assert abs(float(noise[0].std()) * 255 - 10) < 0.4 and abs(float(noise[1].std()) * 255 - 25) < 1.0
    assert abs(float(noise.mean())) < 2e-3
    assert torch.equal(noise[1, 0], noise[1, 1]) and torch.equal(noise[1, 1], noise[1, 2])  # grey noise
    colour = noise[0].flatten(1)
    assert abs(float(torch.corrcoef(colour)[0, 1])) < 0.05  # colour noise: independent channels


def test_poisson_variance_scales_with_intensity():
    img = torch.full((1, 3, 64, 128), 0.2)
    img[..., 64:] = 0.8  # two 8-bit levels -> L = 2 counts per unit intensity
    noise = poisson_noise(img, torch.tensor([1.0]), torch.tensor([False]), gen(0))
    dark, bright = float(noise[..., :64].var()), float(noise[..., 64:].var())
    assert abs(dark - 0.2 / 2) < 0.01 and abs(bright - 0.8 / 2) < 0.04  # Var(Poisson(xL) / L) = x / L
    assert 3.4 < bright / dark < 4.6
    half = poisson_noise(img, torch.tensor([0.5]), torch.tensor([False]), gen(0))
    assert torch.allclose(half, noise * 0.5)  # `scale` multiplies the noise
    grey = poisson_noise(img, torch.tensor([1.0]), torch.tensor([True]), gen(0))
    assert torch.equal(grey[0, 0], grey[0, 2])


def test_jpeg_quality_10_degrades_and_100_barely_does():
    img = texture(1, 64, 64)
    ref = (img * 255).round() / 255

    def psnr(x):
        return 10 * math.log10(1 / float(((x - ref) ** 2).mean()))

    low, high = jpeg(img, [10]), jpeg(img, [100])
    assert psnr(low) < 25 and psnr(high) > 45
    assert low.shape == img.shape and on_8bit_grid(low)
    both = jpeg(torch.cat([img, img]), torch.tensor([10.0, 100.0]))  # one quality per image
    assert torch.equal(both[0], low[0]) and torch.equal(both[1], high[0])


@pytest.mark.parametrize("scale", [2, 4])
def test_bicubic_mode_matches_torch_and_pil(scale):
    hr = texture(1, 48, 64)
    lr = degrade(hr, scale, gen(0), DegradationConfig(mode="bicubic"))
    torch_ref = F.interpolate(hr, scale_factor=1 / scale, mode="bicubic", antialias=True, align_corners=False)
    assert (lr - torch_ref).abs().max() <= 0.5 / 255 + 1e-6  # only the 8-bit rounding differs
    u8 = (hr[0] * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    pil = np.asarray(Image.fromarray(u8).resize((64 // scale, 48 // scale), Image.BICUBIC), dtype=np.float64)
    ours = bicubic_downsample(torch.from_numpy(u8).permute(2, 0, 1)[None].float() / 255, scale)
    diff = np.abs(ours[0].permute(1, 2, 0).numpy() * 255 - pil)
    assert diff.mean() < 0.3 and np.percentile(diff, 99) <= 1.0


def test_usm_sharpening_keeps_flat_areas_and_steepens_edges():
    flat = torch.full((1, 3, 32, 32), 0.4)
    assert torch.allclose(usm_sharpen(flat), flat, atol=1e-6)
    edge = torch.full((1, 3, 32, 32), 0.3)
    edge[..., 16:] = 0.7
    edge = F.avg_pool2d(F.pad(edge, (1, 1, 1, 1), mode="replicate"), 3, 1)  # a soft step
    sharp = usm_sharpen(edge)
    assert sharp[0, 0, 8, 17] > edge[0, 0, 8, 17] and sharp[0, 0, 8, 14] < edge[0, 0, 8, 14]
    assert sharp.min() >= 0 and sharp.max() <= 1


def test_defaults_are_the_realesrgan_x4plus_options():
    cfg = DegradationConfig()
    assert cfg.first.kernel_prob == (0.45, 0.25, 0.12, 0.03, 0.12, 0.03) and cfg.first.blur_sigma == (0.2, 3.0)
    assert cfg.first.resize_prob == (0.2, 0.7, 0.1) and cfg.first.resize_range == (0.15, 1.5)
    assert cfg.first.noise_range == (1.0, 30.0) and cfg.first.jpeg_range == (30.0, 95.0)
    assert cfg.second.blur_prob == 0.8 and cfg.second.blur_sigma == (0.2, 1.5)
    assert cfg.second.resize_prob == (0.3, 0.4, 0.3) and cfg.second.poisson_scale_range == (0.05, 2.5)
    assert cfg.final_sinc_prob == 0.8 and cfg.kernel_size == 21


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"mode": "nearest"}, "DegradationConfig.mode"),
    ({"order": 3}, "order must be 1 or 2"),
    ({"kernel_size": 20}, "kernel_size"),
    ({"resize_modes": ("area", "lanczos")}, "resize_modes"),
    ({"final_sinc_prob": 1.5}, "final_sinc_prob"),
])
def test_invalid_config_is_refused(kwargs, words):
    with pytest.raises(UserError, match=words):
        DegradationConfig(**kwargs)


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"kernel_prob": (0.5, 0.5)}, "kernel_prob must be 6"),
    ({"kernel_prob": (0.5, 0.5, 0.0, 0.0, 0.0, 0.1)}, "must sum to 1"),
    ({"kernel_list": ("iso", "box"), "kernel_prob": (0.5, 0.5)}, "kernel_list"),
    ({"jpeg_range": (0.0, 95.0)}, "jpeg_range"),
    ({"resize_range": (1.2, 1.5)}, "resize_range"),
    ({"betap_range": (1.5, 2.0)}, "must contain 1"),
])
def test_invalid_stage_is_refused(kwargs, words):
    with pytest.raises(UserError, match=words):
        StageConfig(**kwargs)


def test_config_round_trips_through_a_dict():
    cfg = DegradationConfig(order=1, second=StageConfig(blur_prob=0.5), per_image=True)
    assert DegradationConfig.from_dict(cfg.to_dict()) == cfg
    lists = DegradationConfig.from_dict({"first": {"jpeg_range": [60, 90]}, "resize_modes": ["bicubic"]})
    assert lists.first.jpeg_range == (60, 90) and lists.resize_modes == ("bicubic",)
    assert lists.second == DegradationConfig().second  # an absent stage keeps Real-ESRGAN's defaults
    with pytest.raises(UserError, match=r"unexpected keyword argument 'jpeg'; known fields: mode, order"):
        DegradationConfig.from_dict({"jpeg": 3})
    with pytest.raises(UserError, match=r"StageConfig: .*'sigma'; known fields: blur_prob"):
        DegradationConfig.from_dict({"second": {"sigma": [1, 2]}})


def test_bad_inputs_to_degrade():
    with pytest.raises(UserError, match="multiple of the scale"):
        degrade(texture(1, 30, 32), 4, gen(0))
    with pytest.raises(UserError, match="RGB batch"):
        degrade(torch.rand(1, 1, 32, 32), 4, gen(0))
