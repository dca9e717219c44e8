"""The in-memory image dataset every part of ganforge consumes: uint8 NCHW images plus optional labels."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import torch

from ganforge.errors import UserError
from ganforge.limits import hint, limit


class DatasetError(UserError):
    """Raised for unusable training data; the message names the problem and the fix."""


@dataclass
class ImageDataset:
    """Decoded once, kept in memory as uint8 so loading is never the bottleneck."""

    images: torch.Tensor  # uint8 [N, C, H, W]
    labels: torch.Tensor | None = None  # int64 [N]
    num_classes: int = 0  # 0 = unconditional
    name: str = "dataset"
    source: str = ""  # what was read (path, package) for the identity
    skipped: list[str] = field(default_factory=list)  # unreadable files skipped on request

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise DatasetError(f"{self.name}: images must be uint8 [N, C, H, W], got {self.images.dtype} "
                               f"{tuple(self.images.shape)}")
        if len(self.images) == 0:
            raise DatasetError(f"{self.name}: the dataset is empty")
        n, c, h, w = self.images.shape
        if h != w or h & (h - 1):
            raise DatasetError(f"{self.name}: images are {h}x{w}; ganforge needs square images with a power-of-two "
                               "side (resize them, e.g. to 32x32 or 256x256)")
        if c not in (1, 3):
            raise DatasetError(f"{self.name}: {c} channels; only 1 (grey) or 3 (RGB) are supported")
        if self.labels is not None:
            if self.labels.shape != (n,):
                raise DatasetError(f"{self.name}: {len(self.labels)} labels for {n} images")
            self.labels = self.labels.long()
            lo, hi = int(self.labels.min()), int(self.labels.max())
            if hi >= limit("MAX_CLASSES"):  # the class embeddings would be (hi + 1) x width
                raise DatasetError(f"{self.name}: labels go up to {hi}; classes must be numbered 0..K-1 with K at "
                                   f"most the limit: renumber them, or {hint('MAX_CLASSES')}")
            if lo < 0 or (self.num_classes and hi >= self.num_classes):
                raise DatasetError(f"{self.name}: labels range {lo}..{hi} is outside 0..{self.num_classes - 1}")
            if not self.num_classes:
                self.num_classes = hi + 1

    def __len__(self) -> int:
        return len(self.images)

    @property
    def resolution(self) -> int:
        return int(self.images.shape[-1])

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def identity(self) -> str:
        """Stable content hash (images, labels, name) used to key caches of features and statistics."""
        h = hashlib.sha256()
        h.update(f"{self.name}|{tuple(self.images.shape)}|{self.num_classes}".encode())
        h.update(self.images.contiguous().numpy().tobytes())
        if self.labels is not None:
            h.update(self.labels.numpy().tobytes())
        return h.hexdigest()[:16]

    def subset(self, count: int, seed: int = 0) -> ImageDataset:
        """A fixed random subset of `count` images (for data-efficiency experiments)."""
        if count >= len(self):
            return self
        idx = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:count].sort().values
        labels = None if self.labels is None else self.labels[idx]
        return ImageDataset(self.images[idx].clone(), labels, self.num_classes, f"{self.name}[{count}@{seed}]",
                            self.source)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255], clamped and rounded as StyleGAN does."""
    return images.detach().float().mul(127.5).add_(128.0).clamp_(0, 255).to(torch.uint8)
