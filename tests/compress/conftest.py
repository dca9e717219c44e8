"""Fixtures of the compression tests: a small random embedder registered in the evaluation registry."""

import pytest
import torch
from torch import nn

from ganforge.metrics import register_extractor, unregister_extractor

EMBED = "compress-test-embed"


@pytest.fixture
def embed_name():
    """A small random conv net registered in the evaluation registry (as users would register their own)."""
    torch.manual_seed(123)
    net = nn.Sequential(nn.Conv2d(1, 6, 3, stride=2), nn.ReLU(), nn.Conv2d(6, 5, 3, stride=2))
    register_extractor(EMBED, net, overwrite=True)
    yield EMBED
    unregister_extractor(EMBED)
