"""Reading image sets for evaluation: ganforge datasets first, a plain folder reader as the fallback."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from ganforge.data import DatasetError
from ganforge.data.images import GREY_MODES, IMAGE_EXTENSIONS, ImageSource, decode_image
from ganforge.limits import hint, limit


def _folder_shape(src: ImageSource, files: list[str]) -> tuple[int, int, int]:
    """(channels, height, width) shared by all images, from their headers only: a decompression bomb, a corrupt
    file, mixed sizes or a set too large for memory fail here, before any pixel is decoded."""
    sizes: dict[tuple[int, int], str] = {}
    colour = False
    for f in files:
        w, h, mode = src.header(f)
        sizes.setdefault((w, h), f)
        colour = colour or mode not in GREY_MODES
    if len(sizes) > 1:
        shown = ", ".join(f"{w}x{h} ({f})" for (w, h), f in list(sizes.items())[:3])
        raise DatasetError(f"{src.path}: images have mixed sizes, e.g. {shown}; generated images must share one "
                           "size: resize them or generate them again")
    (w, h), _ = sizes.popitem()
    channels = 3 if colour else 1
    need = len(files) * channels * w * h
    if need > limit("MAX_DATASET_BYTES"):
        raise DatasetError(f"{src.path}: {len(files)} images of {w}x{h} need {need / 2**30:.1f} GiB decoded; "
                           f"evaluate fewer images or {hint('MAX_DATASET_BYTES')}")
    return channels, h, w


def read_image_folder(path: str | os.PathLike) -> torch.Tensor:
    """All images under `path` (sorted, recursive) as uint8 [N, C, H, W] of any one size. Decoding is
    ganforge.data's (16-bit scaled by bit depth, alpha over white, CMYK/palette to RGB); grey images are
    repeated to RGB when the folder mixes grey and colour."""
    root = Path(path)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder; give a folder of generated images")
    src = ImageSource(root)
    try:
        files = [f for f in src.names() if PurePosixPath(f).suffix.lower() in IMAGE_EXTENSIONS]
        if not files:
            raise DatasetError(f"{root}: no images found (looked for {', '.join(sorted(IMAGE_EXTENSIONS))}); "
                               "write the generated images there first (e.g. ganforge generate RUN --outdir DIR)")
        channels, h, w = _folder_shape(src, files)
        out = torch.empty((len(files), channels, h, w), dtype=torch.uint8)
        view = out.numpy()  # filled in place, one decoded image at a time
        for i, f in enumerate(files):
            arr = decode_image(src.read(f), f"{root}/{f}")
            if arr.shape[2] != channels:  # a grey image in a colour set, or a float-grey file decoded as RGB
                arr = np.repeat(arr, 3, axis=2) if channels == 3 else arr[:, :, :1]
            view[i] = arr.transpose(2, 0, 1)
    finally:
        src.close()
    return out


def load_image_set(spec: str | os.PathLike):
    """A ganforge dataset (name, folder or zip) via ganforge.data.load_dataset; folders of images that the
    dataset rules reject (e.g. non-power-of-two sizes) are read as-is with read_image_folder."""
    from ganforge.data import load_dataset

    try:
        return load_dataset(str(spec))
    except DatasetError:
        if Path(spec).is_dir():
            return read_image_folder(spec)
        raise
