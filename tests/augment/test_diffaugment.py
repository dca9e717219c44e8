"""DiffAugment: the policy-string interface, what each op does, gradients, and per-image probability p."""

from __future__ import annotations

import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

from ganforge.augment import DiffAugment, diff_augment
from ganforge.augment.diffaugment import (
    parse_policy,
    rand_brightness,
    rand_contrast,
    rand_cutout,
    rand_saturation,
    rand_translation,
)


def images(n: int = 16, ch: int = 3, size: int = 16, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, ch, size, size, generator=g) * 2 - 1


def zero_shift(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """out[i, j] = x[i + dy, j + dx], zero outside (the reference DiffAugment translation)."""
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    ys, yd = slice(max(dy, 0), h + min(dy, 0)), slice(max(-dy, 0), h + min(-dy, 0))
    xs, xd = slice(max(dx, 0), w + min(dx, 0)), slice(max(-dx, 0), w + min(-dx, 0))
    out[..., yd, xd] = x[..., ys, xs]
    return out


def test_policy_string():
    assert parse_policy("color,translation,cutout") == ("color", "translation", "cutout")
    assert parse_policy(" translation , cutout ") == ("translation", "cutout")
    with pytest.raises(ValueError, match="unknown DiffAugment policy"):
        parse_policy("color,zoom")
    assert DiffAugment("translation,cutout").policy == "translation,cutout"


def test_brightness_shift_is_uniform_in_half_range():
    x = images(2000)
    d = (rand_brightness(x, None, None) - x).flatten(1)
    assert torch.allclose(d, d[:, :1].expand_as(d), atol=1e-6)
    assert d.min() >= -0.5 and d.max() <= 0.5 and d[:, 0].std().item() == pytest.approx(12**-0.5, abs=0.02)


def test_saturation_keeps_channel_mean_and_ignores_grey():
    x = images(64)
    y = rand_saturation(x, None, None)
    assert torch.allclose(y.mean(1), x.mean(1), atol=1e-5) and not torch.allclose(y, x)
    grey = images(8, ch=1)
    assert torch.equal(rand_saturation(grey, None, None), grey)


def test_contrast_keeps_image_mean_and_scales_deviation():
    x = images(256)
    y = rand_contrast(x, None, None)
    mx = x.mean(dim=(1, 2, 3), keepdim=True)
    assert torch.allclose(y.mean(dim=(1, 2, 3)), mx.flatten(), atol=1e-5)
    k = ((y - mx) / (x - mx)).flatten(1)
    assert torch.allclose(k, k[:, :1].expand_as(k), rtol=1e-3, atol=1e-3)
    assert k[:, 0].min() >= 0.5 - 1e-5 and k[:, 0].max() <= 1.5 + 1e-5


def test_translation_is_a_zero_padded_integer_shift():
    x = images(32, size=16)
    y = rand_translation(x, None, None)
    limit = int(16 * 0.125 + 0.5)
    shifts = set()
    for i in range(32):
        found = [
            (dy, dx)
            for dy in range(-limit, limit + 1)
            for dx in range(-limit, limit + 1)
            if torch.equal(y[i], zero_shift(x[i], dy, dx))
        ]
        assert len(found) == 1
        shifts.add(found[0])
    assert len(shifts) > 5


def test_cutout_zeroes_a_square_of_half_the_size():
    x = images(64, size=16) * 0.5 + 0.75
    y = rand_cutout(x, None, None)
    zero = y[:, 0] == 0
    full = 0
    for i in range(64):
        rows, cols = zero[i].any(1).nonzero(), zero[i].any(0).nonzero()
        assert 0 < len(rows) <= 8 and 0 < len(cols) <= 8
        assert zero[i].sum() == len(rows) * len(cols)
        assert torch.equal(y[i][:, ~zero[i]], x[i][:, ~zero[i]]) and (y[i][:, zero[i]] == 0).all()
        full += int(zero[i].sum() == 64)
    assert full > 10  # squares fully inside the image have side exactly 8


def test_full_policy_matches_reference_ranges_and_shape():
    x = images(64, size=32)
    y = diff_augment(x, "color,translation,cutout")
    assert y.shape == x.shape and torch.isfinite(y).all()
    assert (y == 0).flatten(1).sum(1).min() >= 16 * 16 // 4  # every image lost at least part of a cutout square


@pytest.mark.parametrize("op", [rand_brightness, rand_saturation, rand_contrast, rand_translation, rand_cutout])
def test_gradcheck_every_op(op):
    x = (torch.rand(2, 3, 5, 6, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    assert gradcheck(lambda t: op(t, None, torch.Generator().manual_seed(2)), (x,), eps=1e-6, atol=1e-5)


def test_gradgradcheck_full_policy():
    aug = DiffAugment("color,translation,cutout")
    x = (torch.rand(2, 3, 4, 4, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    assert gradgradcheck(lambda t: aug(t, torch.Generator().manual_seed(2)), (x,), eps=1e-6, atol=1e-5)


def test_probability_applies_each_op_to_a_share_of_images():
    x = images(4000, size=4)
    y = DiffAugment("color", p=0.3)(x)
    changed = (y != x).flatten(1).any(1).double().mean().item()
    assert changed == pytest.approx(1 - 0.7**3, abs=0.03)


def test_p_zero_is_identity_and_draws_nothing():
    x = images()
    state = torch.get_rng_state()
    assert DiffAugment(p=0.0)(x) is x and DiffAugment("")(x) is x
    assert torch.equal(torch.get_rng_state(), state)


def test_same_generator_seed_same_output():
    x, aug = images(), DiffAugment()
    assert torch.equal(aug(x, torch.Generator().manual_seed(1)), aug(x, torch.Generator().manual_seed(1)))
    torch.manual_seed(3)
    y = aug(x)
    torch.manual_seed(3)
    assert torch.equal(aug(x), y)
