"""StyleGAN2(-ADA) discriminator: FromRGB, downsampling blocks (orig / skip / resnet, StyleGAN2 Fig. 7), a 4x4
epilogue with minibatch standard deviation, and projection conditioning on a mapped label (Miyato & Koyama 2018).
Module names follow the official `training/networks.py`, so official state dicts load with `strict=True`."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ganforge.networks.stylegan2.config import Architecture, StyleGAN2Config
from ganforge.networks.stylegan2.generator import MappingNetwork, block_dtype
from ganforge.networks.stylegan2.layers import Conv2dLayer, FullyConnectedLayer
from ganforge.networks.stylegan2.ops import downsample2d, setup_filter


class DiscriminatorBlock(nn.Module):
    """FromRGB (first block, or every block for 'skip'), conv0, conv1 with 2x FIR downsampling; 'resnet' adds a 1x1
    downsampled shortcut, both branches scaled by sqrt(1/2)."""

    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int, resolution: int, img_channels: int,
                 first_layer_idx: int, architecture: Architecture = "resnet", activation: str = "lrelu",
                 resample_filter: Sequence[float] = (1, 3, 3, 1), conv_clamp: float | None = None,
                 use_fp16: bool = False, freeze_layers: int = 0) -> None:
        if in_channels not in (0, tmp_channels):
            raise ValueError(f"DiscriminatorBlock in_channels must be 0 or {tmp_channels}, got {in_channels}")
        super().__init__()
        self.in_channels, self.resolution, self.img_channels = in_channels, resolution, img_channels
        self.first_layer_idx, self.architecture, self.use_fp16 = first_layer_idx, architecture, use_fp16
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)))
        self.num_layers = 0

        def conv(cin: int, cout: int, k: int, **kw: object) -> Conv2dLayer:
            trainable = first_layer_idx + self.num_layers >= freeze_layers  # Freeze-D counts layers from the input
            self.num_layers += 1
            return Conv2dLayer(cin, cout, kernel_size=k, trainable=trainable, **kw)  # type: ignore[arg-type]

        act = {"activation": activation, "conv_clamp": conv_clamp}
        if in_channels == 0 or architecture == "skip":
            self.fromrgb = conv(img_channels, tmp_channels, 1, **act)
        self.conv0 = conv(tmp_channels, tmp_channels, 3, **act)
        self.conv1 = conv(tmp_channels, out_channels, 3, down=2, resample_filter=resample_filter, **act)
        if architecture == "resnet":
            self.skip = conv(tmp_channels, out_channels, 1, bias=False, down=2, resample_filter=resample_filter)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None,
                force_fp32: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        dtype = block_dtype(self.use_fp16, force_fp32, (img if x is None else x).device)  # type: ignore[union-attr]
        if x is not None:
            x = x.to(dtype)
        if self.in_channels == 0 or self.architecture == "skip":
            assert img is not None
            img = img.to(dtype)
            y = self.fromrgb(img)
            x = x + y if x is not None else y
            img = downsample2d(img, self.resample_filter) if self.architecture == "skip" else None
        assert x is not None
        if self.architecture == "resnet":
            y = self.skip(x, gain=math.sqrt(0.5))
            x = y + self.conv1(self.conv0(x), gain=math.sqrt(0.5))
        else:
            x = self.conv1(self.conv0(x))
        return x, img


class MinibatchStdLayer(nn.Module):
    """Appends the std over groups of `group_size` samples, averaged over channels (in `num_channels` splits) and
    pixels, as extra feature maps (Karras et al. 2018, ProGAN Sec. 3). Sample i is grouped with i + k*(N/G)."""

    def __init__(self, group_size: int | None, num_channels: int = 1) -> None:
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = min(self.group_size, n) if self.group_size is not None else n
        if n % g:
            raise ValueError(f"minibatch-std: batch {n} is not divisible by the group size {g}")
        f = self.num_channels
        y = x.reshape(g, -1, f, c // f, h, w)  # [G, n, F, c, H, W]: the batch splits into n groups of G
        y = y - y.mean(dim=0)
        y = (y.square().mean(dim=0) + 1e-8).sqrt()  # std over each group
        y = y.mean(dim=[2, 3, 4]).reshape(-1, f, 1, 1)  # [n, F, 1, 1]
        return torch.cat([x, y.repeat(g, 1, h, w)], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, num_channels={self.num_channels}"


class DiscriminatorEpilogue(nn.Module):
    """4x4 head: (FromRGB for 'skip'), minibatch std, 3x3 conv, fc, out; with labels the output is projected onto
    the mapped label: sum(out * cmap) / sqrt(cmap_dim)."""

    def __init__(self, in_channels: int, cmap_dim: int, resolution: int, img_channels: int,
                 architecture: Architecture = "resnet", mbstd_group_size: int | None = 4, mbstd_num_channels: int = 1,
                 activation: str = "lrelu", conv_clamp: float | None = None) -> None:
        super().__init__()
        self.in_channels, self.cmap_dim, self.resolution = in_channels, cmap_dim, resolution
        self.img_channels, self.architecture = img_channels, architecture
        if architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, in_channels, kernel_size=1, activation=activation)
        self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_num_channels) if mbstd_num_channels > 0 else None
        self.conv = Conv2dLayer(in_channels + mbstd_num_channels, in_channels, kernel_size=3, activation=activation,
                                conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * resolution**2, in_channels, activation=activation)
        self.out = FullyConnectedLayer(in_channels, 1 if cmap_dim == 0 else cmap_dim)

    def forward(self, x: torch.Tensor, img: torch.Tensor | None, cmap: torch.Tensor | None) -> torch.Tensor:
        x = x.to(torch.float32)
        if self.architecture == "skip":
            assert img is not None
            x = x + self.fromrgb(img.to(torch.float32))
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.out(self.fc(self.conv(x).flatten(1)))
        if self.cmap_dim > 0:
            assert cmap is not None
            x = (x * cmap).sum(dim=1, keepdim=True) * (1 / math.sqrt(self.cmap_dim))  # projection discriminator
        return x


class Discriminator(nn.Module):
    """img [N, C, H, W], c [N, c_dim] -> logits [N, 1]. With mbstd, N must be divisible by the group size (or smaller
    than it)."""

    def __init__(self, cfg: StyleGAN2Config) -> None:
        super().__init__()
        self.cfg = cfg
        self.c_dim, self.img_resolution, self.img_channels = cfg.c_dim, cfg.img_resolution, cfg.img_channels
        self.block_resolutions = [2**i for i in range(cfg.log2_resolution, 2, -1)]
        common = {"img_channels": cfg.img_channels, "architecture": cfg.d_architecture, "conv_clamp": cfg.conv_clamp}
        layer_idx = 0
        for res in self.block_resolutions:
            block = DiscriminatorBlock(cfg.channels(res) if res < cfg.img_resolution else 0, cfg.channels(res),
                                       cfg.channels(res // 2), resolution=res, first_layer_idx=layer_idx,
                                       resample_filter=cfg.resample_filter, use_fp16=res >= cfg.fp16_resolution,
                                       freeze_layers=cfg.d_freeze_layers, **common)
            setattr(self, f"b{res}", block)
            layer_idx += block.num_layers
        cmap_dim = cfg.d_cmap_dim
        if cfg.c_dim > 0:
            self.mapping = MappingNetwork(0, cfg.c_dim, cmap_dim, num_ws=None, num_layers=cfg.d_mapping_layers,
                                          lr_multiplier=cfg.d_mapping_lr_multiplier, w_avg_beta=None)
        self.b4 = DiscriminatorEpilogue(cfg.channels(4), cmap_dim=cmap_dim, resolution=4,
                                        mbstd_group_size=cfg.mbstd_group_size,
                                        mbstd_num_channels=cfg.mbstd_num_channels, **common)

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None, force_fp32: bool = False) -> torch.Tensor:
        if img.ndim != 4 or img.shape[1:] != (self.img_channels, self.img_resolution, self.img_resolution):
            raise ValueError(f"img must have shape [N, {self.img_channels}, {self.img_resolution}, "
                             f"{self.img_resolution}], got {tuple(img.shape)}")
        x = None
        cur: torch.Tensor | None = img
        for res in self.block_resolutions:
            x, cur = getattr(self, f"b{res}")(x, cur, force_fp32=force_fp32)
        cmap = self.mapping(None, c) if self.c_dim > 0 else None
        assert x is not None
        return self.b4(x, cur, cmap)
