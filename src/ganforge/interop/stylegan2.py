"""Build ganforge StyleGAN2 networks from an official StyleGAN2-ADA snapshot read by `read_snapshot`.

The config comes from the persistent `_init_kwargs` of G and D (cross-checked against saved attributes); every
tensor's name and shape is checked against the rebuilt module before a strict load, so a file of another
architecture fails with one clear message instead of a wall of `load_state_dict` errors.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ganforge.errors import UserError
from ganforge.interop.official_pickle import Record, state_dict
from ganforge.networks.config import SHARED_KEYS, NetworkConfig
from ganforge.networks.stylegan2 import Discriminator, Generator, StyleGAN2Config

__all__ = ["config_from_records", "from_snapshot", "load_record", "net_config"]

# Official kwarg -> StyleGAN2Config field; None = accepted and ignored (memory layout only).
_G_TOP = {"z_dim": "z_dim", "c_dim": "c_dim", "w_dim": "w_dim", "img_resolution": "img_resolution",
          "img_channels": "img_channels"}
_G_MAPPING = {"num_layers": "mapping_layers", "embed_features": "embed_features", "layer_features": "layer_features",
              "lr_multiplier": "mapping_lr_multiplier", "w_avg_beta": "w_avg_beta", "activation": None}
_G_SYNTHESIS = {"channel_base": "channel_base", "channel_max": "channel_max", "num_fp16_res": "num_fp16_res",
                "conv_clamp": "conv_clamp", "architecture": "g_architecture", "resample_filter": "resample_filter",
                "use_noise": "use_noise", "fp16_channels_last": None, "channels_last": None, "kernel_size": None,
                "activation": None}
_D_TOP = {"c_dim": "c_dim", "img_resolution": "img_resolution", "img_channels": "img_channels",
          "architecture": "d_architecture", "channel_base": "channel_base", "channel_max": "channel_max",
          "num_fp16_res": "num_fp16_res", "conv_clamp": "conv_clamp", "cmap_dim": "cmap_dim"}
_D_BLOCK = {"activation": None, "resample_filter": "resample_filter", "fp16_channels_last": None,
            "freeze_layers": "d_freeze_layers"}
_D_MAPPING = {"num_layers": "d_mapping_layers", "lr_multiplier": "d_mapping_lr_multiplier", "activation": None}
_D_EPILOGUE = {"mbstd_group_size": "mbstd_group_size", "mbstd_num_channels": "mbstd_num_channels",
               "activation": None}
# Official defaults that ganforge does not make configurable: any other value is a different network.
_FIXED = {"activation": "lrelu", "kernel_size": 3}
# Fields both G and D read: a snapshot must agree on them, since StyleGAN2Config shares them.
_SHARED = ("c_dim", "img_resolution", "img_channels", "channel_base", "channel_max", "num_fp16_res", "conv_clamp",
           "resample_filter")


def take_kwargs(out: dict[str, Any], kwargs: Any, names: dict[str, str | None], where: str,
                family: str = "StyleGAN2") -> None:
    """Official constructor kwargs -> ganforge config fields via `names` (None: accepted, fixed or ignored);
    UserError naming any argument ganforge's `family` networks do not support."""
    if not isinstance(kwargs, dict):
        raise UserError(f"snapshot {where} is {type(kwargs).__name__}, expected a dict of keyword arguments")
    unknown = sorted(set(kwargs) - set(names))
    if unknown:
        raise UserError(f"snapshot {where} has argument(s) {', '.join(unknown)} that ganforge's {family} does not "
                        f"support; the file is not a stock {family} network")
    for key, value in kwargs.items():
        field = names[key]
        if field is None:
            if key in _FIXED and value != _FIXED[key]:
                raise UserError(f"snapshot {where}.{key} = {value!r}; ganforge's {family} supports only "
                                f"{_FIXED[key]!r}")
            continue
        out[field] = tuple(value) if field == "resample_filter" else value


def discriminator_fields(d: Record) -> dict[str, Any]:
    """StyleGAN2Config fields from an official StyleGAN2 Discriminator's `_init_kwargs` (the D of StyleGAN2-ADA and
    of StyleGAN3 snapshots alike)."""
    dk = d.kwargs
    nested = ("block_kwargs", "mapping_kwargs", "epilogue_kwargs")
    fields: dict[str, Any] = {}
    take_kwargs(fields, {k: v for k, v in dk.items() if k not in nested}, {**_D_TOP, **dict.fromkeys(nested)}, "D")
    for name, table in zip(nested, (_D_BLOCK, _D_MAPPING, _D_EPILOGUE), strict=True):
        take_kwargs(fields, dk.get(name) or {}, table, f"D {name}")
    return fields


def plain_number(v: Any) -> Any:
    """numpy scalars in pickled attributes -> Python numbers."""
    return v.item() if hasattr(v, "item") else v


def config_from_records(g: Record, d: Record) -> StyleGAN2Config:
    """The StyleGAN2Config whose G and D have the architecture of the official records `g` and `d`."""
    if g.class_name.rsplit(".", 1)[-1] != "Generator" or d.class_name.rsplit(".", 1)[-1] != "Discriminator":
        raise UserError(f"expected a StyleGAN2-ADA Generator and Discriminator, got {g.class_name} and {d.class_name}")
    gk, dk = g.kwargs, d.kwargs
    if not gk or not dk:
        raise UserError("snapshot modules carry no _init_kwargs; only official persistence pickles can be imported")
    gcfg: dict[str, Any] = {}
    take_kwargs(gcfg, {k: v for k, v in gk.items() if k not in ("mapping_kwargs", "synthesis_kwargs")},
                {**_G_TOP, "mapping_kwargs": None, "synthesis_kwargs": None}, "G")
    take_kwargs(gcfg, gk.get("mapping_kwargs", {}), _G_MAPPING, "G mapping_kwargs")
    take_kwargs(gcfg, gk.get("synthesis_kwargs", {}), _G_SYNTHESIS, "G synthesis_kwargs")
    dcfg = discriminator_fields(d)

    defaults = StyleGAN2Config.__dataclass_fields__
    for name in _SHARED:  # compare with the official defaults filled in (G and D share them)
        gv, dv = gcfg.get(name, defaults[name].default), dcfg.get(name, defaults[name].default)
        if gv != dv:
            raise UserError(f"snapshot G and D differ in {name} ({gv!r} vs {dv!r}); ganforge's StyleGAN2Config "
                            "shares it between G and D")
    cfg = StyleGAN2Config(**{**dcfg, **gcfg})
    _check_attributes(g, d, cfg)
    return cfg


def _check_attributes(g: Record, d: Record, cfg: StyleGAN2Config) -> None:
    """Saved attributes must agree with what the kwargs imply (catches edited or mislabelled files)."""
    expect = [(g, "num_ws", cfg.num_ws), (g, "z_dim", cfg.z_dim), (g, "w_dim", cfg.w_dim), (g, "c_dim", cfg.c_dim),
              (g, "img_resolution", cfg.img_resolution), (d, "c_dim", cfg.c_dim),
              (d, "img_resolution", cfg.img_resolution), (g.child("mapping"), "num_layers", cfg.mapping_layers),
              (g.child("mapping"), "w_avg_beta", cfg.w_avg_beta),
              (g.child(f"synthesis.b{cfg.img_resolution}"), "architecture", cfg.g_architecture),
              (d.child(f"b{cfg.img_resolution}"), "architecture", cfg.d_architecture)]
    for rec, attr, want in expect:
        if attr in rec.state and plain_number(rec.state[attr]) != want:
            raise UserError(f"snapshot {rec.class_name}.{attr} = {rec.state[attr]!r} but its constructor arguments "
                            f"give {want!r}; the file is inconsistent")


def load_record(module: nn.Module, rec: Record, what: str, family: str = "StyleGAN2") -> None:
    """Copy the record's tensors into `module` after checking every key and shape; UserError on any mismatch."""
    got = state_dict(rec)
    want = module.state_dict()
    missing = [k for k in want if k not in got]
    extra = [k for k in got if k not in want]
    shapes = [f"{k} {tuple(got[k].shape)} (expected {tuple(want[k].shape)})" for k in want
              if k in got and got[k].shape != want[k].shape]
    problems = []
    for label, items in (("missing", missing), ("unexpected", extra), ("wrong shape", shapes)):
        if items:
            more = f" and {len(items) - 5} more" if len(items) > 5 else ""
            problems.append(f"{label}: {', '.join(items[:5])}{more}")
    if problems:
        raise UserError(f"snapshot {what} does not match the {family} network its arguments describe; "
                        + "; ".join(problems))
    module.load_state_dict({k: t.to(torch.float32) if t.is_floating_point() else t for k, t in got.items()},
                           strict=True)


def network_records(snapshot: dict[str, Any], family: str) -> tuple[Record, Record, Record]:
    """The G, D and G_ema records of an official snapshot; UserError if one is missing or G_ema differs from G."""
    for key in ("G", "D", "G_ema"):
        if not isinstance(snapshot.get(key), Record):
            raise UserError(f"snapshot has no network {key!r}; expected an official {family} network snapshot")
    g_rec, d_rec, ema_rec = snapshot["G"], snapshot["D"], snapshot["G_ema"]
    if ema_rec.kwargs != g_rec.kwargs:
        raise UserError("snapshot G and G_ema were built with different arguments; the file is inconsistent")
    return g_rec, d_rec, ema_rec


def from_snapshot(snapshot: dict[str, Any]) -> tuple[Generator, Discriminator, Generator, StyleGAN2Config]:
    """(G, D, G_ema, config) from `read_snapshot(path)` of an official StyleGAN2-ADA network-snapshot pickle.

    Networks come back in eval mode (as pickled); call `.train()` to fine-tune. Use G_ema for sampling.
    """
    g_rec, d_rec, ema_rec = network_records(snapshot, "StyleGAN2-ADA")
    cfg = config_from_records(g_rec, d_rec)
    nets: list[nn.Module] = []
    for name, rec, cls in (("G", g_rec, Generator), ("D", d_rec, Discriminator), ("G_ema", ema_rec, Generator)):
        net = cls(cfg)
        load_record(net, rec, name)
        nets.append(net.eval())
    g, d, g_ema = nets
    return g, d, g_ema, cfg  # type: ignore[return-value]


def net_config(cfg: StyleGAN2Config, d_cfg: StyleGAN2Config | None = None) -> NetworkConfig:
    """The ganforge NetworkConfig (net.arch=stylegan2) whose networks are those of `cfg` (G and D share it)."""
    if d_cfg is not None and d_cfg != cfg:
        raise UserError("StyleGAN2 G and D configs differ; net.arch=stylegan2 shares one StyleGAN2Config")
    kwargs = {k: v for k, v in cfg.to_dict().items() if k not in SHARED_KEYS}
    return NetworkConfig(arch="stylegan2", z_dim=cfg.z_dim, num_classes=cfg.c_dim, img_channels=cfg.img_channels,
                         arch_kwargs=kwargs)
