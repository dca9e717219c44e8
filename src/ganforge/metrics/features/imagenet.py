"""vgg16 / alexnet: globally pooled ImageNet feature trunks, loaded from the same weight files as LPIPS.

The trunk comes from ganforge.perceptual.features.build_backbone (the perceptual part's weight manager), imported
only when one of these extractors is built, so the metrics work without it for every other extractor.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from ganforge.metrics.features.base import FeatureExtractor, match_channels, resize_square

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ImageNetTrunkExtractor(FeatureExtractor):
    """uint8 -> [0, 1] -> resize -> ImageNet normalisation -> conv trunk -> global average pool."""

    def __init__(self, trunk: nn.Module, name: str, size: int | None = 224, tag: str = "imagenet") -> None:
        super().__init__()
        self.trunk = trunk.eval().requires_grad_(False)
        self.name = name
        self.size = size
        self._identity = f"{name}-{tag}-s{size}"
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @property
    def identity(self) -> str:
        return self._identity

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = match_channels(images.to(self.mean.device).float() / 255.0, 3)
        x = (resize_square(x, self.size) - self.mean) / self.std
        return {"features": self.trunk(x).mean(dim=(2, 3)).float()}


def build_imagenet_trunk(name: str, weights: str | os.PathLike | None = None, size: int | None = 224,
                         allow_download: bool | None = None) -> ImageNetTrunkExtractor:
    """vgg16 or alexnet features, with ImageNet weights from the perceptual weight manager."""
    try:
        from ganforge.perceptual.features import build_backbone
    except ImportError as e:
        raise ImportError(f"the '{name}' feature extractor needs ganforge.perceptual.features.build_backbone "
                          f"(LPIPS backbone weights); it could not be imported: {e}") from e
    kwargs = {} if allow_download is None else {"allow_download": allow_download}
    trunk = build_backbone(name, weights=None if weights is None else str(weights), **kwargs)
    tag = "imagenet" if weights is None else os.path.basename(str(weights))
    return ImageNetTrunkExtractor(trunk, name, size, tag)
