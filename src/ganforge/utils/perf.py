"""CPU performance settings measured to matter on this class of machine (see benchmarks/train_step.py)."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys

import torch

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


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> tuple[str, str]:
    """(model name, flags line) of the first CPU in /proc/cpuinfo; ("unknown", "") where there is none."""
    model, flags = "unknown", ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and model == "unknown":
                    model = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = value.strip()
    except OSError:
        pass
    return model, flags


def _cpu_flags() -> frozenset[str]:
    return frozenset(_cpuinfo()[1].split())


def cpu_info() -> dict:
    """The CPU model and the flags that decide conv speed (AVX2, AVX-512, native BF16, AMX), for benchmark reports:
    CPUs differ between machines and BF16 is emulated without AVX512-BF16/AMX."""
    model, flags = _cpuinfo()
    names = _cpu_flags()
    amx = sorted(f for f in names if f.startswith("amx"))
    return {"model": model, "logical_cpus": os.cpu_count(), "avx2": "avx2" in names, "avx512f": "avx512f" in names,
            "avx512_bf16": "avx512_bf16" in names, "amx": bool(amx), "amx_flags": amx, "flags": flags}


def native_bf16(device: torch.device) -> bool:
    """BF16 convolutions run in hardware here: CUDA with BF16 support, or a CPU with AVX512-BF16 / AMX-BF16 that
    oneDNN accepts. On AVX2-only CPUs BF16 is emulated: a tiny R3GAN step was 5.8x slower than FP32 and the LPIPS
    trunk 18x (benchmarks/train_step.py, benchmarks/self_distill.py)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and _onednn_bf16() and bool({"avx512_bf16", "amx_bf16"} & _cpu_flags())


@functools.lru_cache(maxsize=1)
def _onednn_bf16() -> bool:
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
