"""classifier-mnist: ganforge's small digit CNN, for Stacked-MNIST mode counting and in-domain digit FID.

The weights ship in ganforge/assets/classifier_mnist.safetensors, trained by scripts/train_mnist_classifier.py
on 4,000 mnist5k digits (test accuracy on the other 1,000 is in classifier_mnist.json). Each image channel is
classified on its own, so a 3-channel Stacked-MNIST image gives three digits and 3 x 128 features. The softmax is
over-confident on non-digits (noise scores p ~ 1), so the extractor also reports how far each channel's features lie
from the real digits of its predicted class (DigitStats, fitted on the same 4,000 digits, classifier_mnist_stats).
The stats also hold a softmax temperature fitted on the 1,000 held-out digits (temperature scaling, Guo et al. 2017):
the classifier was trained with label smoothing, which caps its confidence on real digits near 0.95.
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
STATS_PATH = ASSETS / "classifier_mnist_stats.safetensors"
INPUT_SIZE = 32
OOD_QUANTILE = 0.99  # threshold = this quantile of the training digits' own distances
RIDGE = 1e-3  # added to the pooled covariance, times its mean variance: keeps the inverse well conditioned


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


class DigitStats(nn.Module):
    """Class means and a shared whitening of real-digit features: how far a feature lies from its class's digits.

    Squared Mahalanobis distance to the predicted class's mean under one pooled covariance (Lee et al. 2018, "A
    Simple Unified Framework for Detecting Out-of-Distribution Samples", Eq. 1-2, here to the predicted class),
    reported in units of `threshold` (a quantile of the fitting digits' own distances): <= 1 is in range.
    `temperature` divides the logits before the softmax the extractor reports as confidence.
    """

    def __init__(self, means: torch.Tensor, whitening: torch.Tensor, threshold: float | torch.Tensor,
                 temperature: float | torch.Tensor = 1.0) -> None:
        super().__init__()
        self.register_buffer("means", means.float())  # [classes, D]
        self.register_buffer("whitening", whitening.float())  # [D, D], W W^T = inverse covariance
        self.register_buffer("threshold", torch.as_tensor(threshold, dtype=torch.float32).reshape(()))
        self.register_buffer("temperature", torch.as_tensor(temperature, dtype=torch.float32).reshape(()))

    def squared_distance(self, features: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """[M, D] features and [M] class ids -> [M] squared Mahalanobis distances (not divided by threshold)."""
        return ((features.float() - self.means[classes]) @ self.whitening).square().sum(dim=1)

    def forward(self, features: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        return self.squared_distance(features, classes) / self.threshold

    def state(self) -> dict[str, torch.Tensor]:
        return {"means": self.means.contiguous(), "whitening": self.whitening.contiguous(),
                "threshold": self.threshold.reshape(1).contiguous(),
                "temperature": self.temperature.reshape(1).contiguous()}


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The softmax temperature T minimising the NLL of held-out [M, K] logits (Guo et al. 2017, Sec. 4.2)."""
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=100, line_search_fn="strong_wolfe")
    z = logits.double()

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(z / log_t.exp(), labels)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.detach().exp())


def fit_digit_stats(features: torch.Tensor, labels: torch.Tensor, predicted: torch.Tensor,
                    quantile: float = OOD_QUANTILE, ridge: float = RIDGE) -> DigitStats:
    """Class means and pooled covariance from real digits' [M, D] features and true labels; threshold = the
    `quantile` of their distances to their predicted class (as the extractor measures them)."""
    f = features.double()
    num_classes = int(labels.max()) + 1
    means = torch.stack([f[labels == k].mean(dim=0) for k in range(num_classes)])
    centred = f - means[labels]
    cov = centred.T @ centred / (len(f) - num_classes)  # pooled within-class covariance (LDA)
    cov = cov + ridge * cov.diagonal().mean() * torch.eye(len(cov), dtype=cov.dtype)
    chol = torch.linalg.cholesky(cov)  # cov = L L^T, so inverse = L^-T L^-1 and W = L^-T whitens
    whitening = torch.linalg.solve_triangular(chol, torch.eye(len(cov), dtype=cov.dtype), upper=False).T
    stats = DigitStats(means, whitening, 1.0)
    stats.threshold.fill_(float(torch.quantile(stats.squared_distance(features, predicted).double(), quantile)))
    return stats


def load_digit_stats(path: str | os.PathLike | None = None) -> DigitStats:
    """The shipped real-digit statistics of the shipped classifier (scripts/train_mnist_classifier.py --stats-only)."""
    path = Path(path) if path is not None else STATS_PATH
    if not path.is_file():
        raise FileNotFoundError(f"classifier-mnist digit statistics not found at {path}; they ship with ganforge "
                                "(reinstall the package) or can be rebuilt with "
                                "scripts/train_mnist_classifier.py --stats-only")
    t = load_file(str(path))
    return DigitStats(t["means"], t["whitening"], t["threshold"], t.get("temperature", torch.ones(1)))


class MnistClassifierExtractor(FeatureExtractor):
    """Per-channel digit predictions ("digits", int64 [N, C]), their max softmax probability at the stats'
    temperature ("confidence", [N, C]), concatenated features ([N, 128 * C]) and, given DigitStats,
    "digit_distance" [N, C] (<= 1: in range)."""

    name = "classifier-mnist"

    def __init__(self, net: MnistClassifier, tag: str = "shipped", stats: DigitStats | None = None) -> None:
        super().__init__()
        self.net = net.eval().requires_grad_(False)
        self.stats = stats.to(next(net.parameters()).device) if stats is not None else None
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
        logits = self.net.head(feats).float()
        digits = logits.argmax(dim=1)
        temperature = self.stats.temperature if self.stats is not None else 1.0
        confidence = (logits / temperature).softmax(dim=1).amax(dim=1)  # calibrated (see DigitStats)
        out = {"features": feats.reshape(n, c * feats.shape[1]).float(), "digits": digits.reshape(n, c),
               "confidence": confidence.reshape(n, c)}
        if self.stats is not None:
            out["digit_distance"] = self.stats(feats, digits).reshape(n, c)
        return out


def build_classifier_mnist(weights: str | os.PathLike | None = None,
                           stats: str | os.PathLike | None = None) -> MnistClassifierExtractor:
    """Shipped weights come with their shipped digit statistics; other weights need their own `stats` file."""
    tag = "shipped" if weights is None else Path(weights).stem
    digit_stats = load_digit_stats(stats) if stats is not None or weights is None else None
    return MnistClassifierExtractor(load_classifier(weights), tag, digit_stats)
