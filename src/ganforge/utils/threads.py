"""Temporarily bound torch's intra-op threads (mid-size products and latency measurements).

Measured on the project's shared 2-core machine: one 1000 x 2048 KID subset takes 0.46 s on 1 thread but
1.6-3.3 s on 2 (OpenMP workers spin-waiting against other processes), and a 2048-d eigvalsh 0.9 s vs 2.5-3.8 s.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def limited_threads(threads: int | None = 1) -> Iterator[int]:
    """Run the block with `threads` intra-op threads (None or 0: unchanged); yields the count in force."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
