"""Channel-fraction students of StyleGAN2 teachers (NICKEL & DiME Sec. 4.1: "the same pruned generator as CAGC").

The student keeps the teacher's mapping network (z_dim, w_dim, layers: CAGC and NICKEL & DiME prune the synthesis
network only; their 99.69%-compressed FFHQ student still holds 2.35M parameters, about an 8 x 512 mapping network,
Table 3) and scales every
synthesis channel count by C through channel_base and channel_max, so channels(res) ~ C x the teacher's at every
resolution. The student D is the teacher's D with the same channel_base / channel_max (StyleGAN2 shares them between
G and D); like G's mapping, D's label mapping network and projection width (cmap_dim) stay the teacher's, so the
label path keeps its normalisation scales. Teacher initialisation (compress.student) keeps the largest-L1
channels; the layouts below name the channel axes of every StyleGAN2 tensor.
"""

from __future__ import annotations

import copy
import dataclasses

from torch import nn

from ganforge.errors import UserError
from ganforge.networks import NetworkConfig
from ganforge.networks.adapters import StyleGAN2Generator, StyleGAN3Generator, StyleGANDiscriminator
from ganforge.networks.stylegan2.config import StyleGAN2Config
from ganforge.networks.stylegan2.generator import ToRGBLayer
from ganforge.networks.stylegan2.layers import Conv2dLayer, FullyConnectedLayer

# as compress.student.Layout; "*<set>" marks a flattened [set, H, W] axis (channel-major, D's 4x4 fc input)
Layout = dict[str, tuple[str | None, ...]]


def is_stylegan(module: nn.Module) -> bool:
    return isinstance(module, (StyleGAN2Generator, StyleGAN3Generator, StyleGANDiscriminator))


def refuse_unsupported(net: NetworkConfig) -> None:
    """UserError for teachers whose students cannot be built: StyleGAN3 (no channel layout of its synthesis layers
    is written for teacher initialisation and feature distillation)."""
    if net.arch == "stylegan3":
        raise UserError("net.arch=stylegan3: `ganforge compress` builds channel-fraction students of R3GAN and "
                        "StyleGAN2 teachers only; StyleGAN3 teachers are not supported")


def stylegan2_student_net(net: NetworkConfig, fraction: float) -> NetworkConfig:
    """The teacher's NetworkConfig with channel_base and channel_max times C; the mapping networks (G's w_dim,
    mapping_layers, layer/embed features; D's label mapping and cmap_dim) stay the teacher's (CAGC and NICKEL &
    DiME prune the synthesis network only)."""
    refuse_unsupported(net)
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    cfg = net.stylegan_configs()[0]
    assert isinstance(cfg, StyleGAN2Config)
    base, cmax = round(cfg.channel_base * fraction), max(1, round(cfg.channel_max * fraction))
    if base // cfg.img_resolution < 1:
        raise UserError(f"fraction {fraction} leaves channel_base {base} < img_resolution {cfg.img_resolution}: no "
                        f"channels at {cfg.img_resolution}x{cfg.img_resolution}; use a fraction >= "
                        f"{cfg.img_resolution / cfg.channel_base:.4g}")
    channels4 = min(base // 4, cmax)
    if cfg.mbstd_num_channels and channels4 % cfg.mbstd_num_channels:
        raise UserError(f"fraction {fraction} gives {channels4} D channels at 4x4, not divisible by "
                        f"mbstd_num_channels {cfg.mbstd_num_channels}; choose another fraction")
    kwargs = copy.deepcopy(net.arch_kwargs)
    kwargs.update(channel_base=base, channel_max=cmax)
    if cfg.c_dim:
        kwargs["cmap_dim"] = cfg.d_cmap_dim  # explicit: its default would follow the 4x4 width
    return dataclasses.replace(copy.deepcopy(net), arch_kwargs=kwargs)


def _module_layout(module: nn.Module, name: str, out: str | None, inp: str | None) -> Layout:
    """Channel axes of one equalised-lr / modulated layer's tensors: weight [out, in, ...], bias [out], and the
    style affine of a modulated layer (one style per input channel)."""
    layout: Layout = {f"{name}.weight": (out, inp, *[None] * (module.weight.ndim - 2))}
    if getattr(module, "bias", None) is not None:
        layout[f"{name}.bias"] = (out,)
    if hasattr(module, "affine"):
        layout.update({f"{name}.affine.weight": (inp, None), f"{name}.affine.bias": (inp,)})
    return layout


def generator_layout(G: StyleGAN2Generator) -> Layout:
    """Channel axes of the synthesis tensors: one channel set g<res> per block output (conv0/conv1 outputs, the
    next block's input); the mapping network, noise and filters have no channel axis (copied whole)."""
    layout: Layout = {}
    for res in G.synthesis.block_resolutions:
        block, out = getattr(G.synthesis, f"b{res}"), f"g{res}"
        inp = f"g{res // 2}" if block.in_channels else None
        pre = f"synthesis.b{res}"
        if hasattr(block, "const"):
            layout[f"{pre}.const"] = (out, None, None)
        if hasattr(block, "conv0"):
            layout.update(_module_layout(block.conv0, f"{pre}.conv0", out, inp))
        layout.update(_module_layout(block.conv1, f"{pre}.conv1", out, out))
        if hasattr(block, "torgb"):
            layout.update(_module_layout(block.torgb, f"{pre}.torgb", None, out))
        if hasattr(block, "skip"):
            layout.update(_module_layout(block.skip, f"{pre}.skip", out, inp))
    return layout


def discriminator_layout(D: StyleGANDiscriminator) -> Layout:
    """Channel axes of D: d<res> is the width inside block b<res> (its output is d<res/2>), f4 the 4x4 fc output,
    m<i> / cmap the label mapping's widths; minibatch-std channels are kept ("+d4"), the fc reads "*d4"."""
    layout: Layout = {}
    for res in D.block_resolutions:
        block, tmp, out = getattr(D, f"b{res}"), f"d{res}", f"d{res // 2}"
        pre = f"b{res}"
        if hasattr(block, "fromrgb"):
            layout.update(_module_layout(block.fromrgb, f"{pre}.fromrgb", tmp, None))
        layout.update(_module_layout(block.conv0, f"{pre}.conv0", tmp, tmp))
        layout.update(_module_layout(block.conv1, f"{pre}.conv1", out, tmp))
        if hasattr(block, "skip"):
            layout.update(_module_layout(block.skip, f"{pre}.skip", out, tmp))
    head = D.b4
    if hasattr(head, "fromrgb"):
        layout.update(_module_layout(head.fromrgb, "b4.fromrgb", "d4", None))
    layout.update(_module_layout(head.conv, "b4.conv", "d4", "+d4" if head.mbstd is not None else "d4"))
    layout.update(_module_layout(head.fc, "b4.fc", "f4", "*d4"))
    cmap = "cmap" if head.cmap_dim else None
    layout.update(_module_layout(head.out, "b4.out", cmap, "f4"))
    if hasattr(D, "mapping"):
        m = D.mapping
        widths = ["m_embed", *[f"m{i}" for i in range(m.num_layers - 1)], "cmap"]
        layout.update(_module_layout(m.embed, "mapping.embed", "m_embed", None))
        for i in range(m.num_layers):
            layout.update(_module_layout(getattr(m, f"fc{i}"), f"mapping.fc{i}", widths[i + 1], widths[i]))
    return layout


def stylegan_layout(module: nn.Module) -> Layout:
    if isinstance(module, StyleGAN2Generator):
        return generator_layout(module)
    if isinstance(module, StyleGANDiscriminator) and module.cfg.arch == "stylegan2":
        return discriminator_layout(module)
    raise UserError(f"channel-fraction students of {type(module).__name__} (net.arch={module.cfg.arch}) are not "
                    "supported; StyleGAN2 and R3GAN teachers are")


def weight_gains(module: nn.Module) -> dict[str, float]:
    """Run-time scale of each equalised-lr weight (lr_multiplier / sqrt(fan_in), ProGAN Sec. 4.1): stored weight
    times gain is the weight the layer applies. Demodulated synthesis convs are scale-free and have none."""
    layers = (Conv2dLayer, FullyConnectedLayer, ToRGBLayer)
    return {f"{name}.weight": float(m.weight_gain) for name, m in module.named_modules() if isinstance(m, layers)}


def stylegan_feature_widths(module: nn.Module) -> list[tuple[int, int]]:
    """(resolution, channels) of each feature map `return_features` gives: G's synthesis block outputs (4x4 up),
    D's block outputs (img_resolution / 2 down to 4x4)."""
    cfg = module.arch_cfg
    if isinstance(module, StyleGAN2Generator):
        return [(r, cfg.channels(r)) for r in module.synthesis.block_resolutions]
    if isinstance(module, StyleGANDiscriminator):
        return [(r // 2, cfg.channels(r // 2)) for r in module.block_resolutions]
    raise UserError(f"feature maps of {type(module).__name__} are not described for compression")


__all__ = ["discriminator_layout", "generator_layout", "is_stylegan", "refuse_unsupported", "stylegan2_student_net",
           "stylegan_feature_widths", "stylegan_layout", "weight_gains"]
