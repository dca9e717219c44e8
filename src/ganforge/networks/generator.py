"""R3GAN Config E generator: basis -> [transition, residual blocks] per stage -> 1x1 conv to pixels."""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.networks.config import NetworkConfig
from ganforge.networks.layers import GenerativeBasis, ResidualBlock, UpTransition, conv, msr_init


class GeneratorStage(nn.Module):
    def __init__(self, transition: nn.Module, width: int, cardinality: int, blocks: int, expansion: int, total: int):
        super().__init__()
        self.transition = transition
        self.blocks = nn.Sequential(*[ResidualBlock(width, cardinality, expansion, total) for _ in range(blocks)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.transition(x))


class Generator(nn.Module):
    """z (dim 64, no normalisation) [+ label embedding] -> image in roughly [-1, 1] (no tanh, no normalisation)."""

    def __init__(self, cfg: NetworkConfig):
        super().__init__()
        self.cfg = cfg
        self.z_dim, self.num_classes, self.img_channels = cfg.z_dim, cfg.num_classes, cfg.img_channels
        self.widths = list(cfg.widths)
        self.resolution = cfg.resolution
        total = sum(cfg.blocks)
        embed = cfg.g_embed_dim if cfg.num_classes else 0
        self.embed = msr_init(nn.Linear(cfg.num_classes, embed, bias=False)) if cfg.num_classes else None
        stages = [GeneratorStage(GenerativeBasis(cfg.z_dim + embed, cfg.widths[0]), cfg.widths[0],
                                 cfg.cardinalities[0], cfg.blocks[0], cfg.expansion, total)]
        for i in range(1, len(cfg.widths)):
            up = UpTransition(cfg.widths[i - 1], cfg.widths[i], cfg.resample_border)
            stages.append(GeneratorStage(up, cfg.widths[i], cfg.cardinalities[i], cfg.blocks[i], cfg.expansion, total))
        self.stages = nn.ModuleList(stages)
        self.to_rgb = conv(cfg.widths[-1], cfg.img_channels, 1)
        self.low_precision: torch.dtype | None = None  # set to torch.bfloat16 by the trainer for mixed precision

    def _stage_context(self, i: int, device: torch.device):
        n = len(self.stages)
        if self.low_precision is not None and i >= n - self.cfg.low_precision_stages:
            return torch.autocast(device.type, dtype=self.low_precision)
        return contextlib.nullcontext()

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, return_features: bool = False):
        if self.embed is not None:
            if c is None:
                raise ValueError("this generator is class-conditional: pass labels c")
            z = torch.cat([z, self.embed(F.one_hot(c, self.num_classes).to(z.dtype))], dim=1)
        x, feats = z, []
        for i, stage in enumerate(self.stages):
            with self._stage_context(i, z.device):
                x = stage(x)
            feats.append(x)
        img = self.to_rgb(x.float()).float()  # full precision after bf16 stages (as R3GAN's FP32 output layer)
        return (img, feats) if return_features else img
