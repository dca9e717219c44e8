"""The ADA-style pipeline: each transform does what it says, is differentiable, non-leaky, and free at p = 0."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck, gradgradcheck

from ganforge.augment import PRESETS, TRANSFORMS, AugmentPipe
from ganforge.augment.transforms import apply_geometric, non_identity, rotate2d, scale2d, translate2d


def only(name: str, p: float = 1.0) -> AugmentPipe:
    return AugmentPipe(p, {name: 1.0})


def images(n: int = 16, ch: int = 3, size: int = 16, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, ch, size, size, generator=g) * 2 - 1


def symmetric_shift(x: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """out[i] = x[i - d] with mirror padding about the pixel edges (what grid_sample 'reflection' does)."""

    def idx(n: int, d: int) -> torch.Tensor:
        i = torch.arange(n) - d
        i = torch.where(i < 0, -i - 1, i)
        return torch.where(i >= n, 2 * n - i - 1, i)

    return x[..., idx(x.shape[-2], dy), :][..., idx(x.shape[-1], dx)]


def centroid(x: torch.Tensor) -> torch.Tensor:
    h, w = x.shape[-2:]
    m = x.sum(dim=(-2, -1))
    cy = (x.sum(-1) * torch.arange(h)).sum(-1) / m
    cx = (x.sum(-2) * torch.arange(w)).sum(-1) / m
    return torch.stack([cx, cy], -1)


def blob(size: int = 32, cx: float = 14.0, cy: float = 17.0, sigma: float = 2.0) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    return torch.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2)).double()[None, None]


# ---- p = 0 costs nothing --------------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_p_zero_is_identity_and_does_no_work(preset, monkeypatch):
    x = images()
    pipe = AugmentPipe(0.0, preset)

    def forbidden(*args, **kwargs):
        raise AssertionError("grid_sample called at p = 0")

    monkeypatch.setattr(F, "grid_sample", forbidden)
    state = torch.get_rng_state()
    assert pipe(x) is x
    assert torch.equal(torch.get_rng_state(), state), "p = 0 must not consume random numbers"


def test_unselected_images_pass_through_bit_exact():
    x = images(64)
    pipe = AugmentPipe(0.1, "bgcc")  # 13 transforms: about 0.9^13 = 25% of images are left alone
    params = pipe.sample(x, torch.Generator().manual_seed(1))
    y = pipe.apply(x, params)
    untouched = ~non_identity(params.geometric) & ~non_identity(params.color) & (params.cutout_size == 0)
    assert 0 < untouched.sum() < 64
    assert torch.equal(y[untouched], x[untouched])
    assert not torch.equal(y[~untouched], x[~untouched])


# ---- non-leaky: each transform is applied with probability p * multiplier ----------------------------------------


@pytest.mark.parametrize(("name", "mult", "p"), [("scale", 1.0, 0.3), ("scale", 0.5, 0.6), ("rotate", 1.0, 0.4)])
def test_transform_rate_is_p_times_multiplier(name, mult, p):
    pipe = AugmentPipe(p, {name: mult})
    params = pipe.sample(torch.zeros(20000, 1, 8, 8), torch.Generator().manual_seed(0))
    rate = non_identity(params.geometric).double().mean().item()
    assert rate == pytest.approx(p * mult, abs=0.015)


def test_r3gan_preset_halves_colour_probability():
    assert PRESETS["r3gan"]["brightness"] == 0.5 and PRESETS["r3gan"]["xflip"] == 1.0
    assert PRESETS["r3gan"]["cutout"] == 1.0
    pipe = AugmentPipe(0.8, "r3gan")
    params = pipe.sample(torch.zeros(20000, 1, 8, 8), torch.Generator().manual_seed(0))
    assert (params.cutout_size > 0).double().mean().item() == pytest.approx(0.8, abs=0.015)
    # 1 channel: brightness, contrast, lumaflip (half of the chosen ones flip) at 0.8 * 0.5 each.
    expect = 1 - (1 - 0.4) ** 2 * (1 - 0.4 * 0.5)
    assert non_identity(params.color).double().mean().item() == pytest.approx(expect, abs=0.015)


# ---- blit transforms at p = 1 ---------------------------------------------------------------------------------


def test_xflip_outputs_are_input_or_mirror():
    x = images(32)
    y = only("xflip")(x)
    same = (y - x).abs().flatten(1).amax(1) < 1e-5
    flipped = (y - x.flip(3)).abs().flatten(1).amax(1) < 1e-5
    assert torch.all(same | flipped) and same.any() and flipped.any()


def test_flip_twice_and_quarter_turn_four_times_are_identity():
    x = images(4).double()
    flip = scale2d(-torch.ones(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64))
    assert torch.allclose(apply_geometric(apply_geometric(x, flip), flip), x, atol=1e-9)
    quarter = rotate2d(torch.full((4,), math.pi / 2, dtype=torch.float64))
    y = x
    for _ in range(4):
        y = apply_geometric(y, quarter)
    assert torch.allclose(y, x, atol=1e-9)
    assert torch.allclose(apply_geometric(x, quarter), torch.rot90(x, 1, dims=(2, 3)), atol=1e-9)


def test_rotate90_outputs_are_quarter_turns():
    x = images(32)
    y = only("rotate90")(x)
    seen = set()
    for i in range(32):
        matches = [k for k in range(4) if torch.allclose(y[i], torch.rot90(x[i], k, dims=(1, 2)), atol=1e-5)]
        assert len(matches) == 1
        seen.add(matches[0])
    assert len(seen) >= 3


def test_integer_translation_is_an_exact_pixel_shift_with_reflection():
    x = images(24, size=16)
    y = only("xint")(x)
    max_shift = round(0.125 * 16)
    shifts = set()
    for i in range(24):
        found = [
            (dx, dy)
            for dx in range(-max_shift, max_shift + 1)
            for dy in range(-max_shift, max_shift + 1)
            if torch.allclose(y[i], symmetric_shift(x[i], dx, dy), atol=1e-5)
        ]
        assert len(found) == 1, f"image {i} is not a pixel shift of its input"
        shifts.add(found[0])
    assert len(shifts) > 3


# ---- general geometric transforms: sampled matrices and executed warps ------------------------------------------


def sample_geometric(name: str, n: int = 8000, size: int = 32) -> torch.Tensor:
    return only(name).sample(torch.zeros(n, 1, size, size), torch.Generator().manual_seed(0)).geometric


def test_isotropic_scaling_matrices():
    g = sample_geometric("scale")
    assert torch.equal(g[:, 0, 0], g[:, 1, 1]) and g[:, 0, 1].eq(0).all() and g[:, :2, 2].eq(0).all()
    assert torch.log2(g[:, 0, 0]).std().item() == pytest.approx(0.2, abs=0.01)


def test_anisotropic_scaling_matrices_preserve_area():
    g = sample_geometric("aniso")
    assert torch.allclose(g[:, 0, 0] * g[:, 1, 1], torch.ones(len(g)), atol=1e-6)
    assert torch.log2(g[:, 1, 1]).std().item() == pytest.approx(0.2, abs=0.01)


def test_rotation_matrices_are_rotations_of_all_angles():
    g = sample_geometric("rotate").double()
    r = g[:, :2, :2]
    assert torch.allclose(r @ r.transpose(1, 2), torch.eye(2, dtype=torch.float64).expand_as(r), atol=1e-6)
    assert torch.allclose(torch.linalg.det(r), torch.ones(len(g), dtype=torch.float64), atol=1e-6)
    angles = torch.atan2(r[:, 1, 0], r[:, 0, 0])
    assert angles.min() < -3.0 and angles.max() > 3.0


def test_fractional_translation_matrices():
    g = sample_geometric("xfrac", size=32)
    assert g[:, :2, :2].eq(torch.eye(2)).all()
    assert g[:, 0, 2].std().item() == pytest.approx(0.125 * 32, rel=0.05)
    assert (g[:, 0, 2] != g[:, 0, 2].round()).float().mean() > 0.9


@pytest.mark.parametrize(("tx", "ty"), [(3.0, -2.0), (1.5, 0.25)])
def test_translation_moves_mass(tx, ty):
    x = blob()
    g_inv = translate2d(torch.tensor([-tx], dtype=torch.float64), torch.tensor([-ty], dtype=torch.float64))
    y = apply_geometric(x, g_inv)
    assert torch.allclose(centroid(y[0, 0]) - centroid(x[0, 0]), torch.tensor([tx, ty], dtype=torch.float64), atol=1e-6)
    assert y.sum().item() == pytest.approx(x.sum().item(), rel=1e-6)


def test_scaling_by_two_doubles_the_spread():
    x = blob(cx=15.5, cy=15.5)
    half = torch.full((1,), 0.5, dtype=torch.float64)
    y = apply_geometric(x, scale2d(half, half))  # G^-1 of a 2x zoom

    def spread(img: torch.Tensor) -> float:
        c = centroid(img)
        xs = torch.arange(32, dtype=torch.float64)
        return ((img.sum(0) * (xs - c[0]) ** 2).sum() / img.sum()).item()

    assert spread(y[0, 0]) / spread(x[0, 0]) == pytest.approx(4.0, rel=0.08)


# ---- colour transforms at p = 1 -------------------------------------------------------------------------------


def luma_chroma(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    luma = x.mean(dim=1, keepdim=True)
    return luma, x - luma


def test_brightness_adds_one_offset_per_image():
    x = images(2000)
    y = only("brightness")(x)
    d = (y - x).flatten(1)
    assert torch.allclose(d, d[:, :1].expand_as(d), atol=1e-6)
    assert d[:, 0].std().item() == pytest.approx(0.2, abs=0.015)


def test_contrast_scales_about_grey():
    x = images(2000)
    y = only("contrast")(x)
    k = y.flatten(1) / x.flatten(1)
    assert torch.allclose(k, k[:, :1].expand_as(k), atol=1e-4)
    assert torch.log2(k[:, 0]).std().item() == pytest.approx(0.5, abs=0.03)


@pytest.mark.parametrize("ch", [1, 3])
def test_luma_flip_negates_luma_and_keeps_chroma(ch):
    x = images(64, ch=ch)
    y = only("lumaflip")(x)
    (lx, cx), (ly, cy) = luma_chroma(x), luma_chroma(y)
    assert torch.allclose(cy, cx, atol=1e-5)
    same = (ly - lx).abs().flatten(1).amax(1) < 1e-5
    negated = (ly + lx).abs().flatten(1).amax(1) < 1e-5
    assert torch.all(same | negated) and same.any() and negated.any()


def test_hue_rotation_keeps_luma_and_chroma_norm():
    x = images(64)
    y = only("hue")(x)
    (lx, cx), (ly, cy) = luma_chroma(x), luma_chroma(y)
    assert torch.allclose(ly, lx, atol=1e-5)
    assert torch.allclose(cy.norm(dim=1), cx.norm(dim=1), atol=1e-5)
    assert (cy - cx).abs().amax() > 0.1


def test_saturation_scales_chroma_only():
    x = images(64)
    y = only("saturation")(x)
    (lx, cx), (ly, cy) = luma_chroma(x), luma_chroma(y)
    assert torch.allclose(ly, lx, atol=1e-5)
    s = cy.flatten(1) / cx.flatten(1)
    assert torch.allclose(s, s[:, :1].expand_as(s), rtol=1e-3, atol=1e-3)


def test_hue_and_saturation_are_skipped_for_grey_images():
    pipe = AugmentPipe(1.0, {"hue": 1.0, "saturation": 1.0})
    x = images(8, ch=1)
    assert pipe.sample(x).color is None
    assert torch.equal(pipe(x), x)


@pytest.mark.parametrize("ch", [1, 3])
def test_colour_keeps_value_range_sane(ch):
    x = images(4000, ch=ch, size=8)
    y = AugmentPipe(1.0, "color")(x)
    assert torch.isfinite(y).all()
    assert y.mean().abs().item() < 0.1  # brightness and log-contrast are zero-mean; luma flip is symmetric
    assert y.abs().quantile(0.99).item() < 5.0
    assert 0.25 < y.abs().median().item() < 1.5


# ---- cutout ---------------------------------------------------------------------------------------------------


def test_cutout_zeroes_one_square_of_half_size():
    x = images(64, size=16) * 0.5 + 0.75  # strictly positive, so zeros come from cutout only
    y = only("cutout")(x)
    zero = y[:, 0] == 0
    for i in range(64):
        rows, cols = zero[i].any(1).nonzero(), zero[i].any(0).nonzero()
        assert 0 < len(rows) <= 8 and 0 < len(cols) <= 8
        assert zero[i].sum() == len(rows) * len(cols), "cutout region must be a rectangle"
        assert torch.equal(y[i][:, ~zero[i]], x[i][:, ~zero[i]])
        assert (y[i][:, zero[i]] == 0).all()


# ---- gradients ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", TRANSFORMS)
@pytest.mark.parametrize("ch", [1, 3])
def test_gradcheck_every_transform(name, ch):
    pipe = only(name)
    x = (torch.rand(2, ch, 5, 6, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    assert gradcheck(lambda t: pipe(t, torch.Generator().manual_seed(3)), (x,), eps=1e-6, atol=1e-5)


def test_gradgradcheck_for_r1_through_the_pipeline():
    """R1/R2 differentiate D(aug(x)) w.r.t. x with create_graph, so the pipeline needs a double backward."""
    pipe = AugmentPipe(1.0, "bgcc")
    x = (torch.rand(2, 3, 4, 4, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    assert gradgradcheck(lambda t: pipe(t, torch.Generator().manual_seed(4)), (x,), eps=1e-6, atol=1e-5)


# ---- RNG, dtype, shapes ---------------------------------------------------------------------------------------


def test_global_rng_state_reproduces_the_augmentation():
    x, pipe = images(8), AugmentPipe(0.7, "bgcc")
    state = torch.get_rng_state()
    y1 = pipe(x)
    torch.set_rng_state(state)
    assert torch.equal(pipe(x), y1)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(pipe(x, g1), pipe(x, g2))
    assert not torch.equal(pipe(x, g1), pipe(x, g2.manual_seed(6)))


def test_bfloat16_input_keeps_its_dtype():
    y = AugmentPipe(1.0, "bgcc")(images(4).bfloat16())
    assert y.dtype == torch.bfloat16 and torch.isfinite(y.float()).all()


def test_errors_are_clear():
    with pytest.raises(ValueError, match="unknown augmentation"):
        AugmentPipe(0.5, {"warp": 1.0})
    with pytest.raises(ValueError, match="unknown augmentation"):
        AugmentPipe(0.5, "not-a-preset")
    with pytest.raises(ValueError, match="1 or 3 channels"):
        AugmentPipe(1.0, "color")(images(2, ch=2))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        AugmentPipe(1.5)
    pipe = AugmentPipe(0.5, "xflip=1,hue=0.5,cutout")
    assert pipe.multipliers["hue"] == 0.5 and pipe.multipliers["cutout"] == 1.0 and pipe.multipliers["xint"] == 0
