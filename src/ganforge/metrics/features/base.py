"""The feature-extractor interface every metric consumes: uint8 images in, a dict of 2-D features out."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FeatureExtractor(nn.Module):
    """Maps uint8 [N, C, H, W] images to {"features": float [N, D], ...}.

    `identity` is a stable string (network, weights, resize) that keys on-disk caches: two extractors with the
    same identity must produce the same features.
    """

    name: str = "extractor"

    @property
    def identity(self) -> str:
        return self.name

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1] (ganforge's network convention); float input is passed through."""
    if images.dtype == torch.uint8:
        return images.float().div(127.5).sub(1.0)
    return images.float()


def match_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """Grey -> RGB by repetition; anything else must already have the channels the network expects."""
    if x.shape[1] == channels:
        return x
    if x.shape[1] == 1:
        return x.expand(-1, channels, -1, -1)
    raise ValueError(f"images have {x.shape[1]} channels; this feature network takes {channels} (or 1, repeated)")


def resize_square(x: torch.Tensor, size: int | None) -> torch.Tensor:
    """Bilinear resize to size x size (antialiased when shrinking); None keeps the input size."""
    if size is None or (x.shape[-1] == size and x.shape[-2] == size):
        return x
    shrink = x.shape[-1] > size or x.shape[-2] > size
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink)


class ModuleExtractor(FeatureExtractor):
    """Wraps any nn.Module mapping [-1, 1] images to features (4-D outputs are globally average-pooled)."""

    def __init__(self, module: nn.Module, name: str, *, size: int | None = None, channels: int | None = None,
                 identity: str | None = None) -> None:
        super().__init__()
        self.module = module
        self.name = name
        self.size = size
        self.channels = channels
        self._identity = identity or f"{name}-s{size}"

    @property
    def identity(self) -> str:
        return self._identity

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = to_unit_range(images)
        if self.channels is not None:
            x = match_channels(x, self.channels)
        out = self.module(resize_square(x, self.size))
        if out.ndim == 4:
            out = out.mean(dim=(2, 3))
        return {"features": out.flatten(1).float()}
