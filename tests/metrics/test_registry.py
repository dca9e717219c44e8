"""The extractor registry: user modules, factories, and the lazily imported vgg16/alexnet trunks."""

from __future__ import annotations

import sys
import types

import pytest
import torch
from torch import nn

from ganforge.metrics import available_extractors, build_extractor, register_extractor, unregister_extractor


def test_builtins_are_registered():
    assert {"inception", "inception-random", "classifier-mnist", "vgg16", "alexnet"} <= set(available_extractors())


def test_a_plain_module_is_wrapped_with_resize_channels_and_pooling():
    register_extractor("user-conv", nn.Conv2d(3, 5, 3), size=16, channels=3, overwrite=True)
    try:
        ex = build_extractor("user-conv")
        out = ex(torch.randint(0, 256, (4, 1, 8, 8), dtype=torch.uint8))  # grey, 8 px -> RGB, 16 px
        assert out["features"].shape == (4, 5)
        with pytest.raises(ValueError, match="already registered"):
            register_extractor("user-conv", nn.Identity())
    finally:
        unregister_extractor("user-conv")
    with pytest.raises(KeyError, match="unknown feature extractor 'user-conv'"):
        build_extractor("user-conv")


def test_factories_receive_only_the_options_they_accept():
    seen = {}

    def factory(seed: int = 0) -> nn.Module:
        seen["seed"] = seed
        return nn.Flatten()

    register_extractor("user-factory", factory, overwrite=True)
    try:
        ex = build_extractor("user-factory", seed=4, weights="ignored.pth", resize="tf1")
        assert seen == {"seed": 4} and "seed=4" in ex.identity
        x = torch.full((2, 3, 2, 2), 255, dtype=torch.uint8)
        assert torch.allclose(ex(x)["features"], torch.ones(2, 12))  # uint8 255 -> +1.0
    finally:
        unregister_extractor("user-factory")


@pytest.fixture
def fake_perceptual(monkeypatch):
    """A stand-in for ganforge.perceptual.features.build_backbone: a tiny conv trunk per name."""
    calls = []

    def build_backbone(name: str, weights: str | None = None) -> nn.Module:
        calls.append((name, weights))
        width = {"vgg16": 7, "alexnet": 4}[name]
        return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU())

    module = types.ModuleType("ganforge.perceptual.features")
    module.build_backbone = build_backbone
    monkeypatch.setitem(sys.modules, "ganforge.perceptual.features", module)
    return calls


@pytest.mark.parametrize(("name", "width"), [("vgg16", 7), ("alexnet", 4)])
def test_imagenet_trunks_are_built_through_the_perceptual_weight_manager(fake_perceptual, name, width):
    ex = build_extractor(name, weights="/w/lpips_backbone.pth", size=32)
    assert fake_perceptual == [(name, "/w/lpips_backbone.pth")]
    feats = ex(torch.randint(0, 256, (3, 1, 16, 16), dtype=torch.uint8))["features"]
    assert feats.shape == (3, width)
    assert ex.identity == f"{name}-lpips_backbone.pth-s32"


def test_imagenet_trunk_errors_propagate_clearly(monkeypatch):
    def build_backbone(name, weights=None):
        raise FileNotFoundError(f"{name} weights missing: put them in ~/.cache/ganforge/weights")

    module = types.ModuleType("ganforge.perceptual.features")
    module.build_backbone = build_backbone
    monkeypatch.setitem(sys.modules, "ganforge.perceptual.features", module)
    with pytest.raises(FileNotFoundError, match="vgg16 weights missing"):
        build_extractor("vgg16")


def test_real_alexnet_trunk_from_the_perceptual_weights_when_present():
    """Against the real weight manager: runs where the LPIPS backbone weights are installed, else skips."""
    from ganforge.metrics import fid_from_features

    try:
        ex = build_extractor("alexnet", size=64)
    except (ImportError, FileNotFoundError, OSError) as e:
        pytest.skip(f"alexnet ImageNet weights not available here: {e}")
    digits = pytest.importorskip("sklearn.datasets").load_digits().images  # 8x8, 0..16
    x = torch.from_numpy(digits[:300]).float().mul(255 / 16).unsqueeze(1)
    x = torch.nn.functional.interpolate(x, size=(32, 32), mode="bilinear").round().clamp(0, 255).to(torch.uint8)
    noise = torch.randint(0, 256, (150, 1, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b, n = (ex(t)["features"] for t in (x[:150], x[150:], noise))
    assert a.shape == (150, 256) and torch.isfinite(a).all()
    # ImageNet features: two halves of one digit set are far closer than digits and noise
    assert fid_from_features(a, b) < fid_from_features(a, n) / 3
