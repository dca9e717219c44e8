"""SD-GAN self-distillation loss: gradients reach G only, the same T on both images, every distance's basics."""

from __future__ import annotations

import math
import os

import pytest
import torch
from torch import nn

from ganforge.distill import (
    DISTANCES,
    SDAugment,
    SDAugmentConfig,
    SelfDistillConfig,
    SelfDistiller,
    build_self_distiller,
    feature_distance,
)
from ganforge.perceptual.weights import WeightsNotFoundError, find_backbone_weights

CHEAP = ("l1", "l2", "ms-ssim", "d-features")


def _have_real_weights() -> bool:
    try:
        find_backbone_weights("vgg16", allow_download=False)
        find_backbone_weights("alexnet", allow_download=False)
    except WeightsNotFoundError:
        return False
    return True


IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")  # CI imports the weights first: never skip there
USE_LPIPS = IN_CI or _have_real_weights()
needs_weights = pytest.mark.skipif(not USE_LPIPS, reason="real ImageNet weights not imported; run "
                                   "`python -m ganforge.perceptual.setup_weights` (CI runs it in setup_env.sh)")


class TinyG(nn.Module):
    def __init__(self, channels: int = 3) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, channels * 32 * 32), nn.Tanh(), nn.Unflatten(1, (channels, 32, 32)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class TinyDFeatures(nn.Module):
    """Stands in for D(x, return_features=True)[1]: two stage feature maps, high to low resolution."""

    def __init__(self, channels: int = 3) -> None:
        super().__init__()
        self.a = nn.Conv2d(channels, 8, 3, padding=1)
        self.b = nn.Conv2d(8, 16, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = torch.relu(self.a(x))
        return [h, torch.relu(self.b(h))]


@pytest.fixture(scope="module")
def distillers() -> dict[str, SelfDistiller]:
    names = DISTANCES if USE_LPIPS else CHEAP
    return {d: build_self_distiller(SelfDistillConfig(distance=d)) for d in names}


def _pair(channels: int = 3, n: int = 4):
    G, G_ema = TinyG(channels), TinyG(channels)
    G_ema.load_state_dict(G.state_dict())
    with torch.no_grad():
        for p in G_ema.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return G, G_ema, torch.randn(n, 8)


@pytest.mark.parametrize("distance", DISTANCES)
def test_gradients_reach_the_student_generator_only(distance, distillers):
    if distance not in distillers:
        pytest.skip("real ImageNet weights not imported")
    sd, D = distillers[distance], TinyDFeatures()
    G, G_ema, z = _pair()
    for p in G_ema.parameters():
        p.requires_grad_(True)  # even a teacher that would accept gradients must not receive any
    loss = sd(G(z), G_ema(z), d_features_fn=D)
    assert loss.ndim == 0 and loss.item() > 0
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters())
    assert all(p.grad is None for p in G_ema.parameters())
    assert all(p.grad is None for p in sd.parameters())


@pytest.mark.parametrize("distance", DISTANCES)
@pytest.mark.parametrize("channels", [1, 3])
def test_identical_images_give_exactly_zero_under_augmentation(distance, channels, distillers):
    if distance not in distillers:
        pytest.skip("real ImageNet weights not imported")
    x = (torch.rand(6, channels, 32, 32) * 2 - 1).requires_grad_(True)
    value = distillers[distance](x, x.detach().clone(), d_features_fn=TinyDFeatures(channels))
    assert value.item() == 0.0


def test_the_same_transform_is_applied_to_both_images():
    aug = SDAugment(SDAugmentConfig(p=1.0, max_ops=3, max_rotation_deg=30, max_translation=0.2))
    a = torch.rand(16, 3, 32, 32) * 2 - 1
    ta, tb = aug(a, 0.5 * a)  # T is linear in the image: the same draw must give exactly half
    torch.testing.assert_close(tb, 0.5 * ta)
    assert (ta - a).abs().flatten(1).amax(1).min() > 0.05  # every sample was really transformed
    ta2, _ = aug(a, a)
    assert (ta2 - ta).abs().max() > 0.05  # a fresh call draws a fresh T


def test_augment_distribution_matches_appendix_c():
    aug = SDAugment()
    p = aug.sample(20_000, generator=torch.Generator().manual_seed(0))
    ops = torch.stack([p.flip, p.angle != 0, (p.shift != 0).any(1)], dim=1)
    assert int(ops.sum(1).max()) <= 2
    # each op is chosen with prob 2/3 and then fires with prob 1/2
    torch.testing.assert_close(ops.float().mean(0), torch.full((3,), 1 / 3), atol=0.015, rtol=0)
    assert float(p.angle.abs().max()) <= math.radians(5) + 1e-6 and float(p.shift.abs().max()) <= 0.01
    x = torch.rand(8, 1, 32, 32)
    flip_only = type(p)(flip=torch.ones(8, dtype=torch.bool), angle=torch.zeros(8), shift=torch.zeros(8, 2))
    assert torch.equal(aug.apply(x, flip_only), x.flip(-1))


def test_pixel_distances_and_options():
    g = torch.Generator().manual_seed(0)
    s, t = torch.rand(4, 3, 32, 32, generator=g) * 2 - 1, torch.rand(4, 3, 32, 32, generator=g) * 2 - 1
    l1 = SelfDistiller(SelfDistillConfig(distance="l1", augment=False))
    l2 = SelfDistiller(SelfDistillConfig(distance="l2", augment=False))
    torch.testing.assert_close(l1(s, t), (s - t).abs().mean())
    torch.testing.assert_close(l2(s, t), (s - t).pow(2).mean())
    half = SelfDistiller(SelfDistillConfig(distance="l1", augment=False, batch_fraction=0.5))
    torch.testing.assert_close(half(s, t), (s[:2] - t[:2]).abs().mean())
    low = SelfDistiller(SelfDistillConfig(distance="l2", augment=False, resolution=16))
    down = torch.nn.functional.interpolate(torch.cat([s, t]), size=(16, 16), mode="bilinear", antialias=True)
    torch.testing.assert_close(low(s, t), (down[:4] - down[4:]).pow(2).mean())
    with pytest.raises(ValueError, match="unknown self-distillation distance"):
        SelfDistillConfig(distance="lpips-squeeze")
    with pytest.raises(ValueError, match="needs d_features_fn"):
        SelfDistiller(SelfDistillConfig(distance="d-features"))(s, t)


def test_feature_distance_is_lpips_like():
    a = [torch.rand(3, 8, 16, 16), torch.rand(3, 16, 8, 8)]
    assert feature_distance(a, a).abs().max() == 0
    scaled = [2.5 * f for f in a]  # channel normalisation makes it scale invariant
    assert feature_distance(a, scaled).abs().max() < 1e-6
    b = [torch.rand(3, 8, 16, 16), torch.rand(3, 16, 8, 8)]
    d = feature_distance(a, b)
    assert d.shape == (3,) and torch.all(d > 0) and torch.all(d <= 4)
    torch.testing.assert_close(d, feature_distance(b, a))


def test_d_features_teacher_branch_has_no_graph():
    D = TinyDFeatures()
    seen = []

    def fn(x):
        feats = D(x)
        seen.append(feats[0].requires_grad)
        return feats

    sd = SelfDistiller(SelfDistillConfig(distance="d-features"))
    G, G_ema, z = _pair()
    sd(G(z), G_ema(z), d_features_fn=fn).backward()
    assert seen == [False, True]  # teacher first without autograd, then the student
    assert all(p.grad is not None for p in D.parameters())  # like L_adv, the student path runs through D


def test_alpha_zero_still_logs_without_a_graph():
    sd = SelfDistiller(SelfDistillConfig(distance="l1", alpha=0.0))
    G, G_ema, z = _pair()
    weighted, logged = sd.generator_term(G(z), G_ema(z))
    assert weighted.item() == 0 and not weighted.requires_grad and logged.item() > 0
    sd2 = SelfDistiller(SelfDistillConfig(distance="l1", alpha=2.0, augment=False))
    weighted, logged = sd2.generator_term(G(z), G_ema(z))
    assert weighted.requires_grad and weighted.item() == pytest.approx(2 * logged.item())


@needs_weights
def test_lpips_split_and_fused_passes_agree(distillers):
    G, G_ema, z = _pair(n=4)
    cfgs = [SelfDistillConfig(distance="lpips-alex", augment=False, lpips_pass=p) for p in ("split", "fused")]
    split, fused = (SelfDistiller(c, distillers["lpips-alex"].lpips) for c in cfgs)
    grads = []
    for sd in (split, fused):
        G.zero_grad()
        value = sd(G(z), G_ema(z))
        value.backward()
        grads.append((value.detach(), G.net[0].weight.grad.clone()))
    torch.testing.assert_close(grads[0][0], grads[1][0], rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(grads[0][1], grads[1][1], rtol=1e-4, atol=1e-8)


def test_missing_weights_error_from_build(tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("GANFORGE_WEIGHTS_DIR", raising=False)
    monkeypatch.delenv("GANFORGE_ALLOW_DOWNLOAD", raising=False)
    with pytest.raises(WeightsNotFoundError, match="setup_weights"):
        build_self_distiller(SelfDistillConfig(distance="lpips-vgg"))
    build_self_distiller(SelfDistillConfig(distance="l1"))  # pixel distances need no weights
