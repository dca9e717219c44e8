"""Stand-ins for the metrics tests: a tiny generator and a tiny registered feature network."""

from __future__ import annotations

import pytest
import torch
from metrics_stubs import CountingNet, TinyGenerator
from torch import nn

from ganforge.metrics import register_extractor, unregister_extractor
from ganforge.metrics.evaluate import _CACHES, _EXTRACTORS


@pytest.fixture
def tiny_extractor():
    """Registers 'tiny' (a CountingNet) and 'tiny-random' (seeded factory, for rfid); cleans caches after."""
    net = CountingNet()
    register_extractor("tiny", net, channels=3, overwrite=True)
    made: list[CountingNet] = []

    def random_factory(seed: int = 0) -> nn.Module:
        made.append(CountingNet(seed + 100))
        return made[-1]

    register_extractor("tiny-random", random_factory, overwrite=True)
    _EXTRACTORS.clear()
    _CACHES.clear()
    yield net, made
    unregister_extractor("tiny")
    unregister_extractor("tiny-random")
    _EXTRACTORS.clear()
    _CACHES.clear()


@pytest.fixture
def real_images() -> torch.Tensor:
    """uint8 reference images drawn from a TinyGenerator with another seed (so fakes match in law)."""
    from ganforge.metrics.sampling import generate_images

    return generate_images(TinyGenerator(), 300, seed=12345)
