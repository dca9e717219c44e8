"""R3GAN Config E discriminator: the generator's mirror image, with a projection head for class conditioning."""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.networks.config import NetworkConfig
from ganforge.networks.layers import (
    DiscriminativeBasis,
    DownTransition,
    MinibatchStd,
    ResidualBlock,
    conv,
    msr_init,
)


class DiscriminatorStage(nn.Module):
    def __init__(self, width: int, transition: nn.Module, cardinality: int, blocks: int, expansion: int, total: int):
        super().__init__()
        self.blocks = nn.Sequential(*[ResidualBlock(width, cardinality, expansion, total) for _ in range(blocks)])
        self.transition = transition

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.transition(self.blocks(x))


class Discriminator(nn.Module):
    """image -> logit. Conditional: D(x) = embed(c) . D'(x) (projection discriminator, R3GAN App. J).
    With net.pack > 1, one logit per pack of consecutive images (PacGAN), judged under the pack's one label."""

    def __init__(self, cfg: NetworkConfig):
        super().__init__()
        self.cfg = cfg
        self.num_classes, self.img_channels, self.resolution = cfg.num_classes, cfg.img_channels, cfg.resolution
        widths = list(reversed(cfg.disc_widths))  # high -> low resolution
        cards, blocks = list(reversed(cfg.disc_cardinalities)), list(reversed(cfg.blocks))
        total = sum(blocks)
        out_dim = cfg.projection_dim if cfg.num_classes else 1
        self.pack = cfg.pack
        self.from_rgb = conv(cfg.img_channels * cfg.pack, widths[0], 1)
        border = cfg.resample_border
        stages = [DiscriminatorStage(widths[i], DownTransition(widths[i], widths[i + 1], border), cards[i], blocks[i],
                                     cfg.expansion, total) for i in range(len(widths) - 1)]
        head: nn.Module = DiscriminativeBasis(widths[-1], out_dim)
        if cfg.mbstd_group:
            head = nn.Sequential(MinibatchStd(cfg.mbstd_group), DiscriminativeBasis(widths[-1] + 1, out_dim))
        stages.append(DiscriminatorStage(widths[-1], head, cards[-1], blocks[-1], cfg.expansion, total))
        self.stages = nn.ModuleList(stages)
        self.embed = (msr_init(nn.Linear(cfg.num_classes, out_dim, bias=False), gain=1 / math.sqrt(out_dim))
                      if cfg.num_classes else None)
        self.low_precision: torch.dtype | None = None

    def joint_pass_keeps_halves_apart(self, half_batch: int) -> bool:
        """Whether one D pass over [real; fake] (half_batch images each) keeps every minibatch-std group inside one
        half; if not, reals and fakes must go through D separately, or D would see a statistic of both."""
        groups = self.cfg.mbstd_group
        return not groups or (half_batch // self.pack) % groups == 0

    def _stage_context(self, i: int, device: torch.device):
        if self.low_precision is not None and i < self.cfg.low_precision_stages:
            return torch.autocast(device.type, dtype=self.low_precision)
        return contextlib.nullcontext()

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None, return_features: bool = False):
        """[N, C, H, W] images -> [N / pack] logits (one per pack of consecutive samples)."""
        if self.pack > 1:
            n, ch, h, w = x.shape
            if n % self.pack:
                raise ValueError(f"this discriminator packs {self.pack} samples (net.pack) and got a batch of {n}; "
                                 "use batches that are a multiple of net.pack")
            x = x.reshape(n // self.pack, self.pack * ch, h, w)  # PacGAN: consecutive samples share one input
            if c is not None and self.embed is not None:
                packs = c.view(-1, self.pack)
                same = (packs == packs[:, :1]).all()
                msg = (f"a class-conditional discriminator with net.pack = {self.pack} needs the samples of each "
                       "pack to share one label (draw labels in groups)")
                if same.device.type == "cpu":
                    if not bool(same):
                        raise ValueError(msg)
                else:  # on an accelerator, checked without a host sync on every D call
                    torch._assert_async(same, msg)
                c = packs[:, 0]
        x = self.from_rgb(x)
        feats = []
        for i, stage in enumerate(self.stages):
            context = self._stage_context(i, x.device)
            if isinstance(context, contextlib.nullcontext):
                x = x.float()  # an FP32 stage after BF16 ones (net.low_precision_stages < stages): cast, as R3GAN does
            with context:
                x = stage(x)
            feats.append(x)
        out = x.float()
        if self.embed is not None:
            if c is None:
                raise ValueError("this discriminator is class-conditional: pass labels c")
            out = (out * self.embed(F.one_hot(c, self.num_classes).float())).sum(dim=1, keepdim=True)
        logits = out.view(out.shape[0])
        return (logits, feats[:-1]) if return_features else logits
