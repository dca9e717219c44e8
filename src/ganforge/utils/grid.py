"""Image grids and PNG writing for samples."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def image_grid(images: torch.Tensor, nrow: int | None = None) -> np.ndarray:
    """uint8 [N, C, H, W] -> uint8 HxWxC (C = 1 is returned as HxW) grid, row-major."""
    n, c, h, w = images.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / nrow)
    grid = torch.zeros(c, rows * h, nrow * w, dtype=torch.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        grid[:, r * h:(r + 1) * h, col * w:(col + 1) * w] = images[i]
    arr = grid.permute(1, 2, 0).numpy()
    return arr[:, :, 0] if c == 1 else arr


def save_png(array: np.ndarray, path: str | Path) -> None:
    """Write via a temporary file and a rename: a failed write (disk full) leaves no partial image behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        Image.fromarray(array).save(tmp, format=Image.registered_extensions().get(path.suffix.lower(), "PNG"))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None) -> None:
    save_png(image_grid(images, nrow), path)
