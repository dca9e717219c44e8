"""Discriminators on frozen pretrained backbones: vision-aided D (Kumari et al. 2022) and projected D (Sauer et al.
2021). Only their heads train; backbone weights are buffers (ganforge.networks.backbones), so no gradient reaches
them, while the images still get gradients through them (for G's loss and for R1/R2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ganforge.augment.diffaugment import DiffAugment
from ganforge.networks.backbones import FrozenBackbone, build_feature_backbone, feature_shapes
from ganforge.networks.config import NetworkConfig
from ganforge.networks.pretrained_config import AuxDConfig, ProjectedConfig

__all__ = ["ProjectedDiscriminator", "VisionAidedDiscriminator", "tapped_backbone"]


class _GlobalPool(nn.Module):
    """[N, C, h, w] -> [N, C] spatial mean."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


def _sn(module: nn.Module, on: bool) -> nn.Module:
    return spectral_norm(module) if on else module


def _aux_head(kind: str, channels: int, width: int, side: int, sn: bool) -> nn.Sequential:
    """One tap's head: linear / mlp on the pooled map, or a small conv net averaging its patch logits."""
    if kind == "linear":
        return nn.Sequential(_GlobalPool(), _sn(nn.Linear(channels, 1), sn))
    if kind == "mlp":
        return nn.Sequential(_GlobalPool(), _sn(nn.Linear(channels, width), sn), nn.LeakyReLU(0.2),
                             _sn(nn.Linear(width, 1), sn))
    stride = 2 if side >= 8 else 1
    return nn.Sequential(_sn(nn.Conv2d(channels, width, 3, stride, padding=1), sn), nn.LeakyReLU(0.2),
                         _sn(nn.Conv2d(width, 1, 1), sn), _GlobalPool())


def tapped_backbone(cfg: AuxDConfig | ProjectedConfig, img_channels: int,
                    img_resolution: int) -> tuple[FrozenBackbone, tuple[str, ...], list[tuple[int, int, int]]]:
    """The frozen backbone, its tap names and the (C, h, w) of each tapped map for images of the run's shape."""
    name, layers = cfg.backbone, cfg.layers
    backbone = build_feature_backbone(name, cfg.weights, cfg.resolution, cfg.precision)
    taps = tuple(layers) or backbone.default_layers
    shapes = feature_shapes(backbone, taps, img_channels, img_resolution)
    if any(len(s) != 3 for s in shapes):
        raise ValueError(f"backbone '{name}' must return [N, C, h, w] maps for its taps, got shapes {shapes}")
    if not taps:  # a ModuleBackbone without named taps: all of its outputs
        taps = tuple(str(i) for i in range(len(shapes)))
    return backbone, taps, shapes


class VisionAidedDiscriminator(nn.Module):
    """images [-1, 1] -> [N, taps] logits: DiffAugment -> frozen backbone -> one trainable head per tapped layer."""

    def __init__(self, cfg: AuxDConfig, img_channels: int, img_resolution: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone, self.layers, shapes = tapped_backbone(cfg, img_channels, img_resolution)
        self.augment = DiffAugment(cfg.augment) if cfg.augment else None
        self.heads = nn.ModuleList(_aux_head(cfg.head, c, cfg.head_width, min(h, w), cfg.spectral_norm)
                                   for c, h, w in shapes)

    def forward(self, images: torch.Tensor, fp32: bool = False) -> torch.Tensor:
        """`fp32` runs the backbone in FP32 whatever cfg.precision says (the penalised steps)."""
        x = self.augment(images) if self.augment is not None else images
        feats = self.backbone(x, self.layers, "fp32" if fp32 else None)
        return torch.cat([head(f) for head, f in zip(self.heads, feats)], dim=1)


def _out_side(side: int, kernel: int, stride: int, padding: int) -> int:
    return (side + 2 * padding - kernel) // stride + 1


class _ScaleHead(nn.Module):
    """Patch discriminator of one scale: 4x4 stride-2 convs down to at most 8x8, then a 4x4 conv to patch logits."""

    def __init__(self, channels: int, width: int, side: int, sn: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        while side > 8:
            layers += [_sn(nn.Conv2d(channels, width, 4, 2, 1), sn), nn.LeakyReLU(0.2)]
            channels, side = width, _out_side(side, 4, 2, 1)
        layers.append(_sn(nn.Conv2d(channels, 1, min(4, side)), sn))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1)


class ProjectedDiscriminator(nn.Module):
    """Projected GAN D: frozen backbone -> fixed random CCM (1x1) and CSM (3x3, top-down) -> per-scale heads.

    forward(x, c=None) gives [N, patches] logits of all scales (the hinge loss averages them). The projections are
    persistent buffers drawn from cfg.seed: saved in and restored from checkpoints, never trained. Unconditional;
    net.pack and net.mbstd_group (R3GAN D options) do not apply to it.
    """

    def __init__(self, cfg: ProjectedConfig, net: NetworkConfig) -> None:
        super().__init__()
        if net.num_classes:
            raise ValueError("d_arch=projected is unconditional in ganforge; set conditional=false or d_arch=r3gan")
        self.cfg, self.low_precision = cfg, None  # low_precision: the trainer's switch; this D runs in FP32
        self.backbone, self.layers, shapes = tapped_backbone(cfg, net.img_channels, net.resolution)
        outs = [cfg.channels * (2 ** i if cfg.expand else 1) for i in range(len(shapes))]
        gen = torch.Generator().manual_seed(cfg.seed)
        for i, ((c, _, _), o) in enumerate(zip(shapes, outs)):
            self.register_buffer(f"ccm{i}", torch.randn(o, c, 1, 1, generator=gen) / c ** 0.5)
        for i in range(len(shapes) - 1):  # deeper scale i+1 -> scale i
            fan_in = outs[i + 1] * 9
            self.register_buffer(f"csm{i}", torch.randn(outs[i], outs[i + 1], 3, 3, generator=gen) / fan_in ** 0.5)
        self.heads = nn.ModuleList(_ScaleHead(o, cfg.head_width, min(h, w), cfg.spectral_norm)
                                   for o, (_, h, w) in zip(outs, shapes))

    def project(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Backbone maps after the random cross-channel and cross-scale mixing, shallow to deep."""
        feats = self.backbone(images, self.layers)
        mixed = [F.conv2d(f, getattr(self, f"ccm{i}")) for i, f in enumerate(feats)]
        for i in reversed(range(len(mixed) - 1)):
            up = F.interpolate(mixed[i + 1], size=mixed[i].shape[-2:], mode="bilinear", align_corners=False)
            mixed[i] = mixed[i] + F.conv2d(up, getattr(self, f"csm{i}"), padding=1)
        return mixed

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None, return_features: bool = False):
        mixed = self.project(x)
        logits = torch.cat([head(m) for head, m in zip(self.heads, mixed)], dim=1)
        return (logits, mixed) if return_features else logits
