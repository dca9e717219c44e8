"""argparse value types that reject bad numbers, paths and lists at parse time (exit 2 with one line, like any
usage error), plus the memory checks a command makes once its network is loaded."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ganforge.errors import UserError
from ganforge.limits import hint, limit

N = TypeVar("N", int, float)


def _require(value: N, ok: bool, requirement: str, text: str) -> N:
    """`value` if `ok`, else the usage error 'must be <requirement>, got <text>'."""
    if not ok:
        raise argparse.ArgumentTypeError(f"must be {requirement}, got {text}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (counts, sizes, batch sizes)."""
    value = _int(text)
    return _require(value, value >= 1, "an integer >= 1", text)


def non_negative_int(text: str) -> int:
    """An integer >= 0 (seeds, labels)."""
    value = _int(text)
    return _require(value, value >= 0, "an integer >= 0", text)


def finite_float(text: str) -> float:
    """A float that is not NaN or infinite."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    return _require(value, math.isfinite(value), "a finite number", text)


def int_range(low: int, high: int) -> Callable[[str], int]:
    """An integer in [low, high] (ONNX opsets, thread counts)."""
    def parse(text: str) -> int:
        value = _int(text)
        return _require(value, low <= value <= high, f"an integer from {low} to {high}", text)
    return parse


def positive_float(text: str) -> float:
    """A finite float > 0 (learning rates, time horizons)."""
    value = finite_float(text)
    return _require(value, value > 0, "a number > 0", text)


def non_negative_float(text: str) -> float:
    """A finite float >= 0 (loss weights)."""
    value = finite_float(text)
    return _require(value, value >= 0, "a number >= 0", text)


def unit_fraction(text: str) -> float:
    """A float in [0, 1) (the start of a run as a fraction of its length)."""
    value = finite_float(text)
    return _require(value, 0 <= value < 1, "a number in [0, 1), e.g. 0.2", text)


def rate(text: str) -> float:
    """A float in (0, 1] (EMA update rates)."""
    value = finite_float(text)
    return _require(value, 0 < value <= 1, "a number in (0, 1], e.g. 0.05", text)


def at_most(parse: Callable[[str], N], high: N) -> Callable[[str], N]:
    """`parse` with an upper bound (rates and weights beyond which a model is meaningless or overflows)."""
    def checked(text: str) -> N:
        value = parse(text)
        return _require(value, value <= high, f"at most {high:g}", text)
    return checked


def positive_int_list(text: str) -> tuple[int, ...]:
    """A comma list of distinct integers >= 1, e.g. '1,32' (batch sizes)."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise argparse.ArgumentTypeError(f"expected a comma list of integers >= 1 like 1,32, got {text!r}")
    values = tuple(positive_int(p) for p in parts)
    return tuple(dict.fromkeys(values))


def name_list(text: str) -> list[str]:
    """A non-empty comma list of names, e.g. 'dino,clip' (duplicates dropped)."""
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if not names:
        raise argparse.ArgumentTypeError(f"expected a comma list of names like dino,clip, got {text!r}")
    return names


def existing_path(text: str) -> str:
    """A file or folder that exists (checkpoints, run directories, weights)."""
    if not text or not Path(text).exists():
        raise argparse.ArgumentTypeError(f"{text!r} does not exist; check the path")
    return text


def output_file(text: str) -> str:
    """A file to write: not an existing folder, and no part of its folder is a file (the folder may not exist)."""
    path = Path(text)
    if not text or path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder; give a file name, e.g. {Path(text, 'out')}")
    parent = next((p for p in path.absolute().parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r}: {parent} is a file, not a folder; choose another path")
    return text


def output_with_suffix(suffixes: Callable[[], set[str]], example: str) -> Callable[[str], str]:
    """An output_file whose extension is one of `suffixes()` (checked lazily: image formats, .json, .onnx)."""
    def parse(text: str) -> str:
        text = output_file(text)
        ext = Path(text).suffix.lower()
        allowed = suffixes()
        if ext not in allowed:
            raise argparse.ArgumentTypeError(f"{text!r}: unknown file type '{ext or '(none)'}'; end the name in "
                                             f"{example} (one of {', '.join(sorted(allowed))})")
        return text
    return parse


def _pil_suffixes() -> set[str]:
    from PIL import Image

    return {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.SAVE}


image_file = output_with_suffix(_pil_suffixes, ".png")
json_file = output_with_suffix(lambda: {".json"}, ".json")


def device(text: str) -> str:
    """'auto', 'cpu', 'cuda', 'cuda:N', 'mps': a device torch knows and this machine has."""
    import torch

    if text == "auto":
        return text
    try:
        dev = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"unknown device {text!r}; use cpu, cuda, cuda:N or auto") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(f"{text}: CUDA is not available on this machine; use --device cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise argparse.ArgumentTypeError(f"{text}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise argparse.ArgumentTypeError(f"{text}: MPS is not available on this machine; use --device cpu")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise argparse.ArgumentTypeError(f"unsupported device {text!r}; use cpu, cuda, cuda:N or auto")
    return text


def check_sample_memory(what: str, G: object, images: int, latents: int = 0) -> None:
    """Refuse before generating when `images` float32 samples (and `latents` latent vectors) of G would exceed
    GANFORGE_MAX_SAMPLE_BYTES; `what` names the flag to lower."""
    per_image = 4 * int(G.img_channels) * int(G.resolution) ** 2
    need = images * per_image + 4 * latents * int(G.z_dim)
    if need > limit("MAX_SAMPLE_BYTES"):
        raise UserError(f"{what}: {need / 2**30:.1f} GiB of samples for this {G.resolution}x{G.resolution} "
                        f"generator; lower it or {hint('MAX_SAMPLE_BYTES')}")


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
