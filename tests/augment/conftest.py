"""Augmentation tests work on tiny tensors: one intra-op thread avoids spin-waiting on the shared 2-core box."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)
