"""SRVGGNetCompact: the small plain-conv super-resolution generator of Real-ESRGAN (realesr-general-x4v3,
realesr-animevideov3); a VGG-style body at low resolution, a pixel shuffle, and the nearest-upsampled input added."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

ActType = Literal["prelu", "relu", "leakyrelu"]
ACT_TYPES: tuple[str, ...] = ("prelu", "relu", "leakyrelu")


def _activation(act_type: ActType, num_feat: int) -> nn.Module:
    """Real-ESRGAN's choices: PReLU with one slope per channel, ReLU, or LeakyReLU(0.1)."""
    if act_type == "prelu":
        return nn.PReLU(num_parameters=num_feat)
    if act_type == "relu":
        return nn.ReLU(inplace=True)
    if act_type == "leakyrelu":
        return nn.LeakyReLU(negative_slope=0.1, inplace=True)
    raise ValueError(f"act_type must be one of {', '.join(ACT_TYPES)}, got {act_type!r}")


class SRVGGNetCompact(nn.Module):
    """conv + act, `num_conv` x (conv + act), conv to out*upscale^2 channels, pixel shuffle, + nearest(input).

    Module names (`body.N`, `upsampler`) follow Real-ESRGAN's `srvgg_arch.py` so official state dicts load strictly:
    even `body` indices are convolutions, odd ones activations (PReLU slopes are the only activation weights).
    """

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_conv: int = 16,
                 upscale: int = 4, act_type: ActType = "prelu") -> None:
        super().__init__()
        self.num_in_ch, self.num_out_ch, self.upscale = num_in_ch, num_out_ch, upscale
        layers: list[nn.Module] = [nn.Conv2d(num_in_ch, num_feat, 3, 1, 1), _activation(act_type, num_feat)]
        for _ in range(num_conv):
            layers += [nn.Conv2d(num_feat, num_feat, 3, 1, 1), _activation(act_type, num_feat)]
        layers.append(nn.Conv2d(num_feat, num_out_ch * upscale * upscale, 3, 1, 1))
        self.body = nn.Sequential(*layers)
        self.upsampler = nn.PixelShuffle(upscale)

    @property
    def scale(self) -> int:
        return self.upscale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.upsampler(self.body(x))
        # Residual to the nearest-neighbour upsampled input (Real-ESRGAN srvgg_arch): the body learns the detail only.
        # Nearest upsampling repeats input channels, so it needs num_out_ch == num_in_ch (checked by the config).
        return out + F.interpolate(x, scale_factor=self.upscale, mode="nearest")
