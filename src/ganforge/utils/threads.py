"""Temporarily bound torch's intra-op threads (mid-size products and latency measurements).

Measured on the project's 2-core machine: a 2048-d float64 eigvalsh takes 0.89 s on 1 thread and 1.47 s on 2
even when idle; large products scale (10 KID subsets: 1.67 s on 1 thread, 0.98 s on 2) unless other processes
load the cores, when OpenMP workers spin-wait (one KID subset 0.46 s on 1 thread, 1.6-3.3 s on 2).
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
