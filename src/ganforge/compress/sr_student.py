"""Channel-fraction students of super-resolution GANs: the teacher's SR generator and U-Net discriminator with every
width times C (SDAKD Sec. 3.1: "C" scales the channels of G and D alike; depth and upscale factor are kept).

Students start from random weights, as in SDAKD; they are plain `ganforge.networks.sr` networks, so `save_sr`,
`load_sr`, `ganforge upscale` and the cost report treat them like any other SR network. `distill_feature_layer`
names the feature map SDAKD's L_MLP distils (Sec. 3.2), the same layer in student and teacher.
"""

from __future__ import annotations

import dataclasses

from torch import nn

from ganforge.compress.student import scale_width
from ganforge.networks.sr import SRDiscConfig, SRNetConfig
from ganforge.networks.sr.rrdb import RRDBNet
from ganforge.networks.sr.srvgg import SRVGGNetCompact
from ganforge.networks.sr.weights import build_sr


def sr_student_config(cfg: SRNetConfig | SRDiscConfig, fraction: float) -> SRNetConfig | SRDiscConfig:
    """`num_feat` (and RRDB's growth channels `num_grow_ch`) times C, at least one channel; all else as the teacher."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    widths = {"num_feat": scale_width(cfg.num_feat, fraction)}
    if isinstance(cfg, SRNetConfig) and cfg.arch == "rrdb":
        widths["num_grow_ch"] = scale_width(cfg.num_grow_ch, fraction)
    return dataclasses.replace(cfg, **widths)


def make_sr_student(teacher: nn.Module, fraction: float) -> nn.Module:
    """A randomly initialised student of an SR generator or discriminator built by ganforge.networks.sr."""
    cfg = getattr(teacher, "cfg", None)
    if not isinstance(cfg, (SRNetConfig, SRDiscConfig)):
        raise TypeError(f"{type(teacher).__name__} is not a ganforge super-resolution network (no SR config)")
    return build_sr(sr_student_config(cfg, fraction))


def distill_feature_layer(G: nn.Module) -> nn.Conv2d:
    """The convolution whose input is the feature map L_MLP distils: "the last layer of the convolutional backbone"
    (SDAKD Sec. 3.2), taken as the generator's last feature map, the one its output convolution reads (num_feat
    channels: C x the teacher's in a student). RRDBNet: conv_last, reading lrelu(conv_hr(.)) at the output
    resolution, after the trunk and both upsampling convolutions. SRVGGNetCompact: body[-1], reading the last body
    activation at the input resolution (the pixel shuffle and the input skip follow it)."""
    if isinstance(G, RRDBNet):
        return G.conv_last
    if isinstance(G, SRVGGNetCompact):
        return G.body[-1]
    raise TypeError(f"{type(G).__name__} is not an SR generator with a known feature layer (RRDBNet, SRVGGNetCompact)")


__all__ = ["distill_feature_layer", "make_sr_student", "sr_student_config"]
