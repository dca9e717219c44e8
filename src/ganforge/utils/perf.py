"""CPU performance settings measured to matter on this class of machine (see benchmarks/train_step.py)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
_tuned = False


def tune_allocator() -> bool:
    """Stop glibc from returning freed activation buffers to the OS every step (page-fault churn costs ~1.75x in
    FP32 training here). Equivalent to GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=<big>.
    Returns False where there is no glibc (macOS, Windows, musl) or GANFORGE_NO_MALLOC_TUNING is set."""
    global _tuned
    if _tuned:
        return True
    if os.environ.get("GANFORGE_NO_MALLOC_TUNING") or not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        ok = libc.mallopt(M_MMAP_MAX, 0) == 1 and libc.mallopt(M_TRIM_THRESHOLD, 2**30) == 1
    except (OSError, AttributeError):
        return False
    _tuned = ok
    return ok
