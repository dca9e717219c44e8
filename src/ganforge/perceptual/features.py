"""ImageNet VGG16 / AlexNet feature trunks (torchvision `features` layout) and globally pooled feature extractors.

The trunks are built without torchvision's classifier heads (which would allocate ~130M unused parameters) but
with exactly torchvision's module indices, so torchvision checkpoints and ganforge's safetensors load unchanged.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.perceptual.weights import backbone_spec, load_backbone_state_dict

__all__ = ["MIN_SIZE", "PooledFeatures", "build_backbone", "make_trunk", "pooled_features", "to_rgb"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MIN_SIZE = {"vgg16": 32, "alexnet": 63}  # smallest input side the full `features` trunk accepts


def make_trunk(name: str) -> nn.Sequential:
    """Randomly initialised torchvision `vgg16().features` / `alexnet().features` (same layout and indices)."""
    spec = backbone_spec(name)
    if spec.name == "vgg16":
        from torchvision.models.vgg import cfgs, make_layers

        return make_layers(cfgs["D"], batch_norm=False)
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
    )  # fmt: skip


def build_backbone(name: str, weights: str | os.PathLike | None = None, *,
                   allow_download: bool | None = None) -> nn.Sequential:
    """Torchvision-layout `features` trunk with ImageNet weights, in eval mode, parameters frozen.

    `weights` is an explicit file or directory; otherwise the search of `ganforge.perceptual.weights` applies.
    Inputs are ImageNet-normalised RGB images (see `pooled_features` for a wrapper taking [-1, 1] images).
    """
    trunk = make_trunk(name)
    trunk.load_state_dict(load_backbone_state_dict(name, weights, allow_download=allow_download))
    trunk.eval()
    trunk.requires_grad_(False)
    return trunk


def to_rgb(images: torch.Tensor) -> torch.Tensor:
    """Repeat single-channel images to 3 channels; RGB passes through; anything else is an error."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected NCHW images with 1 or 3 channels, got shape {tuple(images.shape)}")
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


class PooledFeatures(nn.Module):
    """images [-1, 1] (N, 1|3, H, W) -> globally average-pooled trunk output [N, D] (D = 512 VGG16, 256 AlexNet).

    Resize policy: images are resized to `size` x `size` (bilinear, antialiased when shrinking) before the
    trunk; `size=None` keeps the native resolution, which must be at least MIN_SIZE[name].
    """

    def __init__(self, name: str, trunk: nn.Sequential, size: int | None = 64) -> None:
        super().__init__()
        self.name = backbone_spec(name).name
        if size is not None and size < MIN_SIZE[self.name]:
            raise ValueError(f"{self.name} needs inputs of at least {MIN_SIZE[self.name]} px, got size={size}")
        self.size = size
        self.trunk = trunk
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.dim = trunk[max(i for i, m in enumerate(trunk) if isinstance(m, nn.Conv2d))].out_channels

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = to_rgb(images).float()
        if self.size is not None and tuple(x.shape[-2:]) != (self.size, self.size):
            shrink = min(x.shape[-2:]) > self.size
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=shrink)
        elif min(x.shape[-2:]) < MIN_SIZE[self.name]:
            raise ValueError(f"{self.name} needs inputs of at least {MIN_SIZE[self.name]} px, got {tuple(x.shape)}")
        x = ((x + 1) / 2 - self.mean) / self.std
        return self.trunk(x).mean(dim=(2, 3))


def pooled_features(name: str, weights: str | os.PathLike | None = None, size: int | None = 64, *,
                    allow_download: bool | None = None) -> PooledFeatures:
    """FID-style extractor: ImageNet `name` trunk, globally pooled, eval mode and frozen (see PooledFeatures)."""
    module = PooledFeatures(name, build_backbone(name, weights, allow_download=allow_download), size=size)
    return module.eval().requires_grad_(False)
