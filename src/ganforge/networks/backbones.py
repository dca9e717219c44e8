"""Discriminator backbones: a registry of named, frozen feature extractors for vision-aided and projected D.

A backbone takes images in [-1, 1] (N, 1|3, H, W), applies its own input convention (RGB, resize to its input
size, mean/std normalisation) and returns the feature maps [N, C, h, w] of the layers asked for. Its weights are
turned into non-persistent buffers: no optimiser and no `requires_grad_(True)` can reach them, checkpoints do not
copy them (they are rebuilt from the weight files), and gradients still flow through them to the input images.

Built in: `vgg16`, `alexnet` (ImageNet trunks of ganforge.perceptual), `dino` (ViT-S/16) and `clip` (ViT-B/32
image tower) when their weights are on disk; `register_backbone(name, factory)` adds any module. `precision`
("fp32", "bf16" or "auto": BF16 only where it is native) runs the frozen network under BF16 autocast; the maps come
back in FP32.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.perceptual.features import IMAGENET_MEAN, IMAGENET_STD, build_backbone, to_rgb
from ganforge.perceptual.lpips_metric import resolve_precision

__all__ = ["BackboneFactory", "FrozenBackbone", "ModuleBackbone", "SequentialBackbone", "available_backbones",
           "build_feature_backbone", "freeze_module", "register_backbone"]

Weights = str | os.PathLike | None
BackboneFactory = Callable[[Weights], nn.Module]
UNIT_MEAN, UNIT_STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)  # maps [0, 1] back to [-1, 1]: the input unchanged


def freeze_module(module: nn.Module) -> nn.Module:
    """Eval mode, in-place activations off (taps must stay intact) and every parameter turned into a buffer."""
    for m in module.modules():
        if getattr(m, "inplace", False):
            m.inplace = False
        for name, p in list(m._parameters.items()):
            if p is not None:
                del m._parameters[name]
                m.register_buffer(name, p.detach(), persistent=False)
    return module.eval()


class FrozenBackbone(nn.Module):
    """Base: preprocessing by the backbone's convention, frozen network, `forward(images, layers)` -> maps."""

    def __init__(self, name: str, size: int | None, mean: Sequence[float], std: Sequence[float],
                 default_layers: Sequence[str]) -> None:
        super().__init__()
        self.name, self.size, self.default_layers = name, size, tuple(default_layers)
        self.precision = "fp32"  # "bf16" / "auto": the frozen network under BF16 autocast (set by the builder)
        self.register_buffer("mean", torch.tensor(tuple(mean), dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(tuple(std), dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> FrozenBackbone:
        """Always eval: a frozen backbone keeps its inference behaviour when its owner trains."""
        return super().train(False)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """[-1, 1] images -> RGB at the backbone's size, normalised with its mean and std (differentiable)."""
        x = to_rgb(images).float()
        if self.size is not None and tuple(x.shape[-2:]) != (self.size, self.size):
            shrink = min(x.shape[-2:]) > self.size
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=shrink)
        return ((x + 1) / 2 - self.mean) / self.std

    def forward(self, images: torch.Tensor, layers: Sequence[str] | None = None,
                precision: str | None = None) -> list[torch.Tensor]:
        """FP32 feature maps [N, C, h, w] of `layers` (default: the backbone's default taps), in the order given;
        `precision` overrides the backbone's own for this call (e.g. "fp32" for a gradient penalty)."""
        x = self.preprocess(images)
        bf16 = resolve_precision(precision or self.precision, x.device) == "bf16"
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            feats = self.extract(x, tuple(layers) if layers else self.default_layers)
        return [f.float() for f in feats]

    def extract(self, x: torch.Tensor, layers: tuple[str, ...]) -> list[torch.Tensor]:
        raise NotImplementedError

    def unknown_layer(self, layer: str, valid: Sequence[str]) -> ValueError:
        """The error for a tap this backbone does not have, listing the ones it has."""
        return ValueError(f"backbone '{self.name}' has no layer {layer!r}; choose from {', '.join(valid)}")


def _pool_boundary_taps(net: nn.Sequential) -> list[str]:
    """Indices of the last layer before each pooling layer, and of the final layer: one tap per resolution."""
    taps = [str(i - 1) for i, m in enumerate(net) if i and isinstance(m, (nn.MaxPool2d, nn.AvgPool2d))]
    last = str(len(net) - 1)
    return taps if taps and isinstance(net[-1], (nn.MaxPool2d, nn.AvgPool2d)) else [*taps, last]


class SequentialBackbone(FrozenBackbone):
    """An nn.Sequential trunk; a tap is the output of module index i ("3"), or a name mapped to an index."""

    def __init__(self, name: str, net: nn.Sequential, size: int | None = None, mean: Sequence[float] = UNIT_MEAN,
                 std: Sequence[float] = UNIT_STD, names: dict[str, int] | None = None,
                 default_layers: Sequence[str] | None = None) -> None:
        super().__init__(name, size, mean, std, default_layers or _pool_boundary_taps(net))
        self.net = freeze_module(net)
        self.names = dict(names or {})

    def index(self, layer: str) -> int:
        """Module index of a tap name or index string."""
        if layer in self.names:
            return self.names[layer]
        if layer.isdigit() and int(layer) < len(self.net):
            return int(layer)
        raise self.unknown_layer(layer, [*self.names, f"0..{len(self.net) - 1}"])

    def extract(self, x: torch.Tensor, layers: tuple[str, ...]) -> list[torch.Tensor]:
        wanted = [self.index(name) for name in layers]
        out: dict[int, torch.Tensor] = {}
        for i, module in enumerate(self.net[:max(wanted) + 1]):
            x = module(x)
            out[i] = x
        return [out[i] for i in wanted]


class ModuleBackbone(FrozenBackbone):
    """Any module whose forward returns a map or a list of maps; tap "k" is its k-th output (default: all)."""

    def __init__(self, name: str, net: nn.Module, size: int | None = None, mean: Sequence[float] = UNIT_MEAN,
                 std: Sequence[float] = UNIT_STD) -> None:
        super().__init__(name, size, mean, std, ())
        self.net = freeze_module(net)

    def extract(self, x: torch.Tensor, layers: tuple[str, ...]) -> list[torch.Tensor]:
        out = self.net(x)
        outs = [out] if torch.is_tensor(out) else list(out)
        valid = [str(i) for i in range(len(outs))]
        for layer in layers:
            if layer not in valid:
                raise self.unknown_layer(layer, valid)
        return [outs[int(layer)] for layer in layers] if layers else outs


VGG16_TAPS = {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15, "relu4_3": 22, "relu5_3": 29}
ALEXNET_TAPS = {"relu1": 1, "relu2": 4, "relu3": 7, "relu4": 9, "relu5": 11}
IMAGENET_SIZE = 224  # the input side ImageNet classifiers, DINO and CLIP were trained at


def _vgg16(weights: Weights) -> FrozenBackbone:
    return SequentialBackbone("vgg16", build_backbone("vgg16", weights), IMAGENET_SIZE, IMAGENET_MEAN, IMAGENET_STD,
                              VGG16_TAPS, ("relu2_2", "relu3_3", "relu4_3", "relu5_3"))


def _alexnet(weights: Weights) -> FrozenBackbone:
    return SequentialBackbone("alexnet", build_backbone("alexnet", weights), IMAGENET_SIZE, IMAGENET_MEAN,
                              IMAGENET_STD, ALEXNET_TAPS, ("relu2", "relu3", "relu4", "relu5"))


def _dino(weights: Weights) -> FrozenBackbone:
    from ganforge.networks.vit_backbones import dino_backbone

    return dino_backbone(weights)


def _clip(weights: Weights) -> FrozenBackbone:
    from ganforge.networks.vit_backbones import clip_backbone

    return clip_backbone(weights)


_REGISTRY: dict[str, tuple[BackboneFactory, dict]] = {
    "vgg16": (_vgg16, {}), "alexnet": (_alexnet, {}), "dino": (_dino, {}), "clip": (_clip, {}),
}


def register_backbone(name: str, factory: BackboneFactory, *, size: int | None = None,
                      mean: Sequence[float] = UNIT_MEAN, std: Sequence[float] = UNIT_STD,
                      overwrite: bool = False) -> None:
    """Make `factory(weights)` available as backbone `name` for d_aux entries and d_arch=projected.

    The factory may return a FrozenBackbone (used as it is), an nn.Sequential (taps: module indices, default the
    last layer before each pooling) or any module returning a map or a list of maps. size/mean/std describe the
    input convention of the latter two: resize to size x size (None: keep), then normalise [0, 1] images with
    mean/std (the defaults feed [-1, 1] images unchanged).
    """
    if not name or not isinstance(name, str):
        raise ValueError(f"backbone name must be a non-empty string, got {name!r}")
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"backbone '{name}' is already registered; pass overwrite=True to replace it")
    _REGISTRY[name] = (factory, {"size": size, "mean": tuple(mean), "std": tuple(std)})


def available_backbones() -> list[str]:
    """Names of the registered backbones (built-in and user-registered)."""
    return sorted(_REGISTRY)


def build_feature_backbone(name: str, weights: Weights = None, size: int | None = None,
                           precision: str = "fp32") -> FrozenBackbone:
    """The frozen backbone `name`; `size` overrides its input side (None: the backbone's own convention);
    `precision` is "fp32", "bf16" or "auto" (BF16 autocast where BF16 is native: CUDA, AVX512-BF16/AMX CPUs)."""
    resolve_precision(precision, torch.device("cpu"))  # validate before loading weights
    if name not in _REGISTRY:
        raise ValueError(f"unknown backbone '{name}'; choose one of {', '.join(available_backbones())} or add one "
                         "with ganforge.networks.backbones.register_backbone")
    factory, convention = _REGISTRY[name]
    net = factory(weights)
    if isinstance(net, FrozenBackbone):
        backbone = net
    elif isinstance(net, nn.Sequential):
        backbone = SequentialBackbone(name, net, **convention)
    elif isinstance(net, nn.Module):
        backbone = ModuleBackbone(name, net, **convention)
    else:
        raise TypeError(f"the factory of backbone '{name}' returned {type(net).__name__}, not an nn.Module")
    freeze_module(backbone)
    if size is not None:
        backbone.size = size
    backbone.precision = precision
    return backbone


def feature_shapes(backbone: FrozenBackbone, layers: Sequence[str] | None, channels: int = 3,
                   resolution: int = 32) -> list[tuple[int, int, int]]:
    """(C, h, w) of each tapped map, from one dry run on zeros (heads are sized from it)."""
    with torch.no_grad():
        probe = torch.zeros(1, channels, resolution, resolution, device=backbone.mean.device)
        return [tuple(f.shape[1:]) for f in backbone(probe, layers)]  # type: ignore[misc]
