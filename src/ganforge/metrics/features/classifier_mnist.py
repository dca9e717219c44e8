"""classifier-mnist: ganforge's small digit CNN, for Stacked-MNIST mode counting and in-domain digit FID.

The weights ship in ganforge/assets/classifier_mnist.safetensors, trained by scripts/train_mnist_classifier.py
on 4,000 mnist5k digits (test accuracy on the other 1,000 is in classifier_mnist.json). Each image channel is
classified on its own, so a 3-channel Stacked-MNIST image gives three digits and 3 x 128 features.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from ganforge.metrics.features.base import FeatureExtractor, to_unit_range

ASSETS = Path(__file__).resolve().parents[2] / "assets"
WEIGHTS_PATH = ASSETS / "classifier_mnist.safetensors"
INFO_PATH = ASSETS / "classifier_mnist.json"
INPUT_SIZE = 32


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class MnistClassifier(nn.Module):
    """32x32 grey digit in [-1, 1] -> 128-d globally pooled features -> 10 logits (131k parameters)."""

    feature_dim = 128

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _block(1, 32), nn.MaxPool2d(2),  # 16x16
            _block(32, 64), _block(64, 64), nn.MaxPool2d(2),  # 8x8
            _block(64, 128), nn.MaxPool2d(2),  # 4x4
        )
        self.head = nn.Linear(128, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def load_classifier(path: str | os.PathLike | None = None) -> MnistClassifier:
    """The shipped classifier (or another safetensors file with the same layout), in eval mode."""
    path = Path(path) if path is not None else WEIGHTS_PATH
    if not path.is_file():
        raise FileNotFoundError(f"classifier-mnist weights not found at {path}; they ship with ganforge "
                                "(reinstall the package) or can be rebuilt with scripts/train_mnist_classifier.py")
    net = MnistClassifier()
    net.load_state_dict(load_file(str(path)))
    return net.eval().requires_grad_(False)


def classifier_info() -> dict:
    """The recorded training facts of the shipped weights (accuracy, command, data split)."""
    return json.loads(INFO_PATH.read_text()) if INFO_PATH.is_file() else {}


class MnistClassifierExtractor(FeatureExtractor):
    """Per-channel digit predictions ("digits", int64 [N, C]) and concatenated features ([N, 128 * C])."""

    name = "classifier-mnist"

    def __init__(self, net: MnistClassifier, tag: str = "shipped") -> None:
        super().__init__()
        self.net = net.eval().requires_grad_(False)
        self._identity = f"classifier-mnist-{tag}"

    @property
    def identity(self) -> str:
        return self._identity

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = to_unit_range(images).to(next(self.net.parameters()).device)
        n, c = x.shape[:2]
        x = x.reshape(n * c, 1, *x.shape[2:])
        if x.shape[-1] != INPUT_SIZE or x.shape[-2] != INPUT_SIZE:
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False,
                              antialias=x.shape[-1] > INPUT_SIZE)
        feats = self.net.features(x)
        digits = self.net.head(feats).argmax(dim=1)
        return {"features": feats.reshape(n, c * feats.shape[1]).float(), "digits": digits.reshape(n, c)}


def build_classifier_mnist(weights: str | os.PathLike | None = None) -> MnistClassifierExtractor:
    tag = "shipped" if weights is None else Path(weights).stem
    return MnistClassifierExtractor(load_classifier(weights), tag)
