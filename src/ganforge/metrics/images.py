"""Reading image sets for evaluation: ganforge datasets first, a plain PIL folder reader as the fallback."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def read_image_folder(path: str | os.PathLike) -> torch.Tensor:
    """All images under `path` (sorted, recursive) as uint8 [N, C, H, W]; they must share one size and mode."""
    from PIL import Image

    files = sorted(p for p in Path(path).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {path}")
    arrays = []
    for f in files:
        with Image.open(f) as im:
            im = im.convert("L") if im.mode in ("L", "I", "I;16", "1") else im.convert("RGB")
            a = np.asarray(im)
        arrays.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise ValueError(f"images under {path} differ in size/channels: {sorted(shapes)[:4]}")
    return torch.from_numpy(np.stack(arrays))


def load_image_set(spec: str | os.PathLike):
    """A ganforge dataset (name, folder or zip) via ganforge.data.load_dataset; folders of images that the
    dataset rules reject (e.g. non-power-of-two sizes) are read as-is with read_image_folder."""
    from ganforge.data import DatasetError, load_dataset

    try:
        return load_dataset(str(spec))
    except DatasetError:
        if Path(spec).is_dir():
            return read_image_folder(spec)
        raise
