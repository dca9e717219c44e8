"""Random-stream hygiene: work that draws random numbers on the side (evaluation builds extractors and samples)
must not shift the training run's stream, or runs with and without it (or resumed ones) would diverge."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def forked_rng(device: torch.device) -> Iterator[None]:
    """torch.random.fork_rng for the CPU generator and, on CUDA, the device's: restored on exit."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, device_type=device.type):
        yield
