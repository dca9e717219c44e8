"""Thread count for the metric math's many mid-size products and eigen-solves.

Measured on the project's shared 2-core machine: one 1000 x 2048 KID subset takes 0.46 s on 1 thread but
1.6-3.3 s on 2 (OpenMP workers spin-waiting against other processes), and a 2048-d eigvalsh 0.9 s vs 2.5-3.8 s.
Large products (covariances, distance blocks) keep PyTorch's thread setting.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def limited_threads(threads: int | None = 1) -> Iterator[None]:
    """Run the block with `threads` intra-op threads (None: unchanged), restoring the setting after."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
