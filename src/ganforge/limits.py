"""Memory limits checked before anything large is allocated; each is overridable by an environment variable."""

from __future__ import annotations

import os

from ganforge.errors import UserError

DEFAULTS: dict[str, int] = {
    "MAX_IMAGE_PIXELS": 89_478_485,  # one decoded image (Pillow's own default); beyond it: decompression bomb
    "MAX_DATASET_BYTES": 32 * 2**30,  # all decoded images of an image folder / zip held in memory as uint8
    "MAX_ZIP_BYTES": 64 * 2**30,  # total decompressed size of a dataset zip
    "MAX_MEMBER_BYTES": 256 * 2**20,  # one decompressed zip member
    "MAX_CLASSES": 100_000,  # class labels 0..K-1 (the class embeddings are K x width)
    "MAX_SEEDS": 1_000_000,  # seeds of one `ganforge generate` call
    "MAX_GRID_IMAGES": 4096,  # images in one grid PNG
    "MAX_PARAMS": 2_000_000_000,  # parameters of a network built from a file's metadata
    "MAX_SAMPLE_BYTES": 16 * 2**30,  # float32 samples and latents `analyze`/`distill`/`report` hold at once
    "MAX_SIM_STEPS": 1_000_000,  # states of one `ganforge dirac` simulation (10 per time unit in ode mode)
}


def limit(name: str) -> int:
    """The limit `name`, from GANFORGE_<name> if set (an integer; 1e9 style is accepted), else the default."""
    raw = os.environ.get(f"GANFORGE_{name}")
    if raw is None:
        return DEFAULTS[name]
    try:
        value = int(float(raw))
    except ValueError:
        raise UserError(f"GANFORGE_{name}={raw!r}: expected an integer") from None
    if value < 1:
        raise UserError(f"GANFORGE_{name}={raw!r}: must be >= 1")
    return value


def hint(name: str) -> str:
    """How to raise a limit, for error messages."""
    return f"raise the limit with GANFORGE_{name}=N (now {limit(name)})"
