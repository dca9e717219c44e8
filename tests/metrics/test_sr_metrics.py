"""PSNR / SSIM on the BT.601 Y channel against closed forms and a direct numpy re-derivation of BasicSR's SSIM."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganforge.metrics.sr import crop_patches, fid_on_crops, psnr, rgb_to_y, ssim


def numpy_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two 2-D 0-255 images, window by window (11x11 Gaussian, sigma 1.5, 'valid' positions only)."""
    g = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    win = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for i in range(a.shape[0] - 10):
        for j in range(a.shape[1] - 10):
            pa, pb = a[i:i + 11, j:j + 11], b[i:i + 11, j:j + 11]
            ma, mb = (win * pa).sum(), (win * pb).sum()
            va, vb = (win * pa * pa).sum() - ma**2, (win * pb * pb).sum() - mb**2
            cov = (win * pa * pb).sum() - ma * mb
            values.append((2 * ma * mb + c1) * (2 * cov + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    return float(np.mean(values))


def test_y_channel_is_matlab_rgb2ycbcr():
    rgb = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [0.2, 0.5, 0.9]], dtype=torch.float64)
    y = rgb_to_y(rgb.T.reshape(1, 3, 1, 4)).flatten().tolist()
    expected = [16.0, 235.0, 16 + 65.481, 16 + 0.2 * 65.481 + 0.5 * 128.553 + 0.9 * 24.966]
    assert y == pytest.approx(expected, abs=1e-9)


def test_psnr_of_known_mse():
    x = torch.zeros(2, 3, 8, 8, dtype=torch.float64)
    y = torch.full((2, 3, 8, 8), 10 / 255, dtype=torch.float64)
    # Y difference is 10/255 * (65.481 + 128.553 + 24.966) = 10 * 219 / 255 on the 0-255 scale everywhere.
    assert psnr(x, y).tolist() == pytest.approx([10 * math.log10(255**2 / (10 * 219 / 255) ** 2)] * 2, abs=1e-9)
    assert psnr(x, y, y_channel=False).tolist() == pytest.approx([20 * math.log10(255 / 10)] * 2, abs=1e-9)
    noise = np.random.RandomState(0).randint(0, 256, (12, 9, 3)).astype(np.uint8)
    other = np.clip(noise.astype(int) + np.random.RandomState(1).randint(-3, 4, noise.shape), 0, 255).astype(np.uint8)
    mse = ((noise.astype(float) - other) ** 2).mean()
    assert float(psnr(noise, other, y_channel=False, data_range=255)) == pytest.approx(10 * math.log10(255**2 / mse))


def test_identical_images_and_crop_border():
    x = torch.rand(1, 3, 20, 20)
    assert math.isinf(float(psnr(x, x))) and float(ssim(x, x)) == pytest.approx(1.0, abs=1e-12)
    y = x.clone()
    y[..., :2, :] = 0  # damage only the top two rows
    assert math.isfinite(float(psnr(x, y, crop_border=1)))
    assert math.isinf(float(psnr(x, y, crop_border=2)))
    with pytest.raises(ValueError, match="crop_border"):
        psnr(x, y, crop_border=10)
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(x, y, crop_border=5)


def test_ssim_matches_direct_numpy_rederivation():
    rng = np.random.RandomState(0)
    a = rng.rand(3, 17, 15)
    b = np.clip(a + 0.1 * rng.randn(*a.shape), 0, 1)
    ya = 16 + np.tensordot([65.481, 128.553, 24.966], a, axes=1)
    yb = 16 + np.tensordot([65.481, 128.553, 24.966], b, axes=1)
    got = float(ssim(torch.from_numpy(a), torch.from_numpy(b)))
    assert got == pytest.approx(numpy_ssim(ya, yb), abs=1e-10)
    assert 0.2 < got < 0.99
    per_channel = np.mean([numpy_ssim(255 * a[c], 255 * b[c]) for c in range(3)])
    assert float(ssim(torch.from_numpy(a), torch.from_numpy(b), y_channel=False)) == pytest.approx(per_channel,
                                                                                                  abs=1e-10)


def test_uint8_arrays_and_float_tensors_agree():
    rng = np.random.RandomState(2)
    a = rng.randint(0, 256, (16, 16, 3)).astype(np.uint8)
    b = rng.randint(0, 256, (16, 16, 3)).astype(np.uint8)
    ta, tb = (torch.from_numpy(v).permute(2, 0, 1).double() / 255 for v in (a, b))
    assert float(psnr(a, b, 2, data_range=255)) == pytest.approx(float(psnr(ta, tb, 2)), abs=1e-9)
    assert float(ssim(a, b, data_range=255)) == pytest.approx(float(ssim(ta, tb)), abs=1e-12)
    grey = a[:, :, 0]
    assert float(ssim(grey, grey, data_range=255)) == pytest.approx(1.0)


def test_crop_patches_tile_each_image_row_by_row():
    x = torch.arange(2 * 3 * 9 * 12, dtype=torch.float32).reshape(2, 3, 9, 12)
    p = crop_patches(x, 4)  # 2 x 3 patches per image; the last row of pixels does not fill a patch
    assert p.shape == (12, 3, 4, 4)
    assert torch.equal(p[1], x[0, :, 0:4, 4:8]) and torch.equal(p[3], x[0, :, 4:8, 0:4])
    assert torch.equal(p[6], x[1, :, 0:4, 0:4])
    for bad in (0, 10):
        with pytest.raises(ValueError, match="patch size"):
            crop_patches(x, bad)


def test_fid_on_crops_is_zero_for_the_originals_and_grows_with_the_damage():
    from torch import nn

    from ganforge.metrics import register_extractor, unregister_extractor

    with torch.random.fork_rng():
        torch.manual_seed(0)
        register_extractor("test-sr-fid", nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()), size=16, overwrite=True)
        hr = torch.rand(4, 3, 32, 32)
    try:
        blur = torch.nn.functional.avg_pool2d(hr, 3, 1, 1)
        assert fid_on_crops(hr, hr, 8, "test-sr-fid") == pytest.approx(0.0, abs=1e-6)
        mild, strong = (fid_on_crops(x, hr, 8, "test-sr-fid") for x in (0.5 * hr + 0.5 * blur, blur))
        assert 0 < mild < strong
        with pytest.raises(ValueError, match="same shape"):
            fid_on_crops(hr[:, :, :16], hr, 8, "test-sr-fid")
        with pytest.raises(ValueError, match="at least 2"):
            fid_on_crops(hr[:1], hr[:1], None, "test-sr-fid")
    finally:
        unregister_extractor("test-sr-fid")
