"""Build ganforge networks from an official StyleGAN3 snapshot read by `read_snapshot`.

G and G_ema become ganforge StyleGAN3 generators (`networks.stylegan3`); D, which the official StyleGAN3 code takes
from its `networks_stylegan2.py`, becomes ganforge's StyleGAN2 discriminator with its own channel_base/channel_max.
Configs come from the persistent `_init_kwargs` (official defaults filled in), are cross-checked against the saved
attributes and layer names, and every tensor's name and shape is checked before a strict load.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import nn

from ganforge.errors import UserError
from ganforge.interop.official_pickle import Record
from ganforge.interop.stylegan2 import (
    discriminator_fields,
    load_record,
    network_records,
    plain_number,
    take_kwargs,
)
from ganforge.networks.config import SG3_D_DEFAULTS, SHARED_KEYS, NetworkConfig
from ganforge.networks.stylegan2 import Discriminator, StyleGAN2Config
from ganforge.networks.stylegan3 import Generator, StyleGAN3Config

__all__ = ["d_config_from_record", "from_snapshot", "g_config_from_record", "net_config"]

# Official kwarg -> StyleGAN3Config field; None = accepted and ignored (memory layout / handled separately).
_G_TOP = {"z_dim": "z_dim", "c_dim": "c_dim", "w_dim": "w_dim", "img_resolution": "img_resolution",
          "img_channels": "img_channels", "mapping_kwargs": None}
_G_MAPPING = {"num_layers": "mapping_layers", "lr_multiplier": "mapping_lr_multiplier", "w_avg_beta": "w_avg_beta"}
_G_SYNTHESIS = {"channel_base": "channel_base", "channel_max": "channel_max", "num_layers": "num_layers",
                "num_critical": "num_critical", "first_cutoff": "first_cutoff", "first_stopband": "first_stopband",
                "last_stopband_rel": "last_stopband_rel", "margin_size": "margin_size", "output_scale": "output_scale",
                "num_fp16_res": "num_fp16_res", "filter_size": "filter_size", "lrelu_upsampling": "lrelu_upsampling",
                "conv_clamp": "conv_clamp", "magnitude_ema_beta": "magnitude_ema_beta", "conv_kernel": None,
                "use_radial_filters": None}
# (conv_kernel, use_radial_filters) of the two official configs; any other pair is not a stock StyleGAN3.
_VARIANTS = {(3, False): "t", (1, True): "r"}
# The StyleGAN2Config fields a discriminator reads (the rest are generator settings).
_D_FIELDS = ("channel_base", "channel_max", "num_fp16_res", "conv_clamp", "d_architecture", "resample_filter",
             "mbstd_group_size", "mbstd_num_channels", "cmap_dim", "d_mapping_layers", "d_mapping_lr_multiplier",
             "d_freeze_layers")


def g_config_from_record(g: Record) -> StyleGAN3Config:
    """The StyleGAN3Config of an official `networks_stylegan3.Generator` record."""
    if g.class_name.rsplit(".", 1)[-1] != "Generator" or "input" not in g.children().get("synthesis",
                                                                                         Record("")).children():
        raise UserError(f"expected an official StyleGAN3 Generator, got {g.class_name}")
    kw = g.kwargs
    if not kw:
        raise UserError("snapshot modules carry no _init_kwargs; only official persistence pickles can be imported")
    mapping = kw.get("mapping_kwargs") or {}
    unknown = sorted(set(kw) - set(_G_TOP) - set(_G_SYNTHESIS)) + [f"mapping_kwargs.{k}" for k in
                                                                   sorted(set(mapping) - set(_G_MAPPING))]
    if unknown:
        raise UserError(f"snapshot G has argument(s) {', '.join(unknown)} that ganforge's StyleGAN3 does not support; "
                        "the file is not a stock StyleGAN3 network")
    fields: dict[str, Any] = {}
    top = {k: v for k, v in kw.items() if k in _G_TOP}
    take_kwargs(fields, top, _G_TOP, "G", "StyleGAN3")
    take_kwargs(fields, mapping, _G_MAPPING, "G mapping_kwargs", "StyleGAN3")
    take_kwargs(fields, {k: v for k, v in kw.items() if k not in _G_TOP}, _G_SYNTHESIS, "G", "StyleGAN3")
    variant = (plain_number(kw.get("conv_kernel", 3)), bool(kw.get("use_radial_filters", False)))
    if variant not in _VARIANTS:
        raise UserError(f"snapshot G has conv_kernel={variant[0]}, use_radial_filters={variant[1]}; ganforge's "
                        "StyleGAN3 supports the official configs T (3, False) and R (1, True)")
    cfg = StyleGAN3Config(**{k: plain_number(v) for k, v in fields.items()}, config=_VARIANTS[variant])
    synthesis = g.child("synthesis")
    names = [spec.name for spec in cfg.layer_specs()]
    if list(synthesis.state.get("layer_names", names)) != names:
        raise UserError(f"snapshot G layers {synthesis.state['layer_names']} differ from the {names} its arguments "
                        "give; the file is inconsistent")
    for rec, attr, want in ((g, "num_ws", cfg.num_ws), (g, "z_dim", cfg.z_dim), (g, "c_dim", cfg.c_dim),
                            (g, "img_resolution", cfg.img_resolution), (synthesis, "margin_size", cfg.margin_size),
                            (g.child("mapping"), "num_layers", cfg.mapping_layers),
                            (g.child("mapping"), "w_avg_beta", cfg.w_avg_beta)):
        if attr in rec.state and plain_number(rec.state[attr]) != want:
            raise UserError(f"snapshot {rec.class_name}.{attr} = {rec.state[attr]!r} but its constructor arguments "
                            f"give {want!r}; the file is inconsistent")
    return cfg


def d_config_from_record(d: Record) -> StyleGAN2Config:
    """The StyleGAN2Config (discriminator fields) of the official StyleGAN3 repository's StyleGAN2 Discriminator."""
    if d.class_name.rsplit(".", 1)[-1] != "Discriminator":
        raise UserError(f"expected an official StyleGAN2 Discriminator, got {d.class_name}")
    kw = d.kwargs
    if not kw:
        raise UserError("snapshot modules carry no _init_kwargs; only official persistence pickles can be imported")
    cfg = StyleGAN2Config(**{**SG3_D_DEFAULTS, **discriminator_fields(d)})
    for attr, want in (("c_dim", cfg.c_dim), ("img_resolution", cfg.img_resolution)):
        if attr in d.state and plain_number(d.state[attr]) != want:
            raise UserError(f"snapshot D.{attr} = {d.state[attr]!r} but its constructor arguments give {want!r}")
    return cfg


def _load(net: nn.Module, rec: Record, what: str, family: str) -> nn.Module:
    load_record(net, rec, what, family)
    return net.eval()


def from_snapshot(snapshot: dict[str, Any]) -> tuple[Generator, Discriminator, Generator, StyleGAN3Config]:
    """(G, D, G_ema, config) from `read_snapshot(path)` of an official StyleGAN3 network-snapshot pickle.

    D's own StyleGAN2Config is `D.cfg`. Networks come back in eval mode (as pickled); call `.train()` to fine-tune.
    Use G_ema for sampling. The snapshot's `augment_pipe` and `training_set_kwargs` are not converted here;
    `ganforge import` maps the augment_pipe onto ganforge's ADA settings (interop.augment_pipe).
    """
    g_rec, d_rec, ema_rec = network_records(snapshot, "StyleGAN3")
    cfg = g_config_from_record(g_rec)
    d_cfg = d_config_from_record(d_rec)
    if (d_cfg.c_dim, d_cfg.img_resolution, d_cfg.img_channels) != (cfg.c_dim, cfg.img_resolution, cfg.img_channels):
        raise UserError("snapshot G and D differ in c_dim, img_resolution or img_channels; the file is inconsistent")
    g = _load(Generator(cfg), g_rec, "G", "StyleGAN3")
    d = _load(Discriminator(d_cfg), d_rec, "D", "StyleGAN2")
    g_ema = _load(Generator(cfg), ema_rec, "G_ema", "StyleGAN3")
    return g, d, g_ema, cfg  # type: ignore[return-value]


def net_config(cfg: StyleGAN3Config, d_cfg: StyleGAN2Config) -> NetworkConfig:
    """The ganforge NetworkConfig (net.arch=stylegan3) of generator `cfg` and StyleGAN2 discriminator `d_cfg`."""
    kwargs = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in SHARED_KEYS}
    d = d_cfg.to_dict()
    kwargs["d"] = {k: d[k] for k in _D_FIELDS}
    return NetworkConfig(arch="stylegan3", z_dim=cfg.z_dim, num_classes=cfg.c_dim, img_channels=cfg.img_channels,
                         arch_kwargs=kwargs)
