"""RRDBNet: the ESRGAN / Real-ESRGAN generator (Wang et al. 2018, "ESRGAN", Sec. 3.1) with BasicSR's module names,
so official RealESRGAN_x4plus / x2plus files load strictly."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# BasicSR's RRDBNet always upsamples 4x; scale 2 and 1 first fold 2x2 / 4x4 pixel blocks into channels.
UNSHUFFLE: dict[int, int] = {4: 1, 2: 2, 1: 4}


class ResidualDenseBlock(nn.Module):
    """Five 3x3 convs, each seeing the block input and all earlier outputs (dense connections, ESRGAN Fig. 4);
    the result is scaled by 0.2 before the residual add (residual scaling, ESRGAN Sec. 3.1)."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32) -> None:
        super().__init__()
        for i in range(4):
            setattr(self, f"conv{i + 1}", nn.Conv2d(num_feat + i * num_grow_ch, num_grow_ch, 3, 1, 1))
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow_ch, num_feat, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            feats.append(self.lrelu(conv(torch.cat(feats, 1))))
        return self.conv5(torch.cat(feats, 1)) * 0.2 + x


class RRDB(nn.Module):
    """Residual-in-residual dense block: three dense blocks, again with a 0.2-scaled residual (ESRGAN Fig. 4)."""

    def __init__(self, num_feat: int, num_grow_ch: int = 32) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    """conv_first, `num_block` RRDBs + conv_body (long skip), two (nearest 2x, conv, LeakyReLU 0.2), conv_hr, conv_last.

    scale 2 / 1 pixel-unshuffle the input first (Real-ESRGAN x2plus), so H and W must be multiples of
    `input_multiple`; the upscaler pads images to that (ganforge.networks.sr.inference).
    """

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, scale: int = 4, num_feat: int = 64,
                 num_block: int = 23, num_grow_ch: int = 32) -> None:
        super().__init__()
        if scale not in UNSHUFFLE:
            raise ValueError(f"RRDBNet scale must be 1, 2 or 4, got {scale}")
        self.num_in_ch, self.num_out_ch, self.scale = num_in_ch, num_out_ch, scale
        self.conv_first = nn.Conv2d(num_in_ch * UNSHUFFLE[scale] ** 2, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(RRDB(num_feat, num_grow_ch) for _ in range(num_block)))
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    @property
    def input_multiple(self) -> int:
        return UNSHUFFLE[self.scale]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = UNSHUFFLE[self.scale]
        # torch's pixel_unshuffle orders channels (c, dy, dx) like BasicSR's own pixel_unshuffle.
        feat = self.conv_first(F.pixel_unshuffle(x, r) if r > 1 else x)
        feat = feat + self.conv_body(self.body(feat))
        feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(feat)))
