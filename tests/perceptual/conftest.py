"""Fixtures for the perceptual tests: the real ImageNet weights (imported by setup_weights) and natural images."""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F

from ganforge.perceptual.weights import WeightsNotFoundError, find_backbone_weights


@pytest.fixture(scope="session")
def real_weights() -> dict:
    """Paths of the real VGG16/AlexNet weights; skips (with the fix) when `setup_weights` has not been run."""
    try:
        return {name: find_backbone_weights(name, allow_download=False) for name in ("vgg16", "alexnet")}
    except WeightsNotFoundError as exc:
        reason = (f"real ImageNet weights not imported; run `python -m ganforge.perceptual.setup_weights` "
                  f"(scripts/setup_env.sh does). {str(exc).splitlines()[0]}")
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI must test with the real weights: {reason}")  # setup_env.sh imports them first
        pytest.skip(reason)


@pytest.fixture(scope="session")
def natural_images() -> torch.Tensor:
    """scikit-learn's two sample photos (china, flower) resized to 64x64, float [-1, 1], shape [2, 3, 64, 64]."""
    from sklearn.datasets import load_sample_image

    photos = [torch.tensor(load_sample_image(name)).permute(2, 0, 1).float() for name in ("china.jpg", "flower.jpg")]
    x = torch.stack([F.interpolate(p[None], size=(64, 64), mode="bilinear", antialias=True, align_corners=False)[0]
                     for p in photos])
    return x / 127.5 - 1


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    """Empty ganforge and torchvision caches, no weights-dir override, downloads disallowed."""
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "ganforge-cache"))
    monkeypatch.delenv("GANFORGE_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv("GANFORGE_ALLOW_DOWNLOAD", raising=False)
    return tmp_path

