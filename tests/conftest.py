"""Test-wide settings: one torch thread per test process (the suite runs one process per core via xdist)."""

import os

import pytest
import torch

os.environ.setdefault("OMP_NUM_THREADS", "1")  # also for the subprocesses some tests start
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
