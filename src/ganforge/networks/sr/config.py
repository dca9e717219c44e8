"""Configurations of the super-resolution networks, validated when built, and the functions that build them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, get_args

from torch import nn

from ganforge.errors import UserError
from ganforge.networks.sr.rrdb import UNSHUFFLE, RRDBNet
from ganforge.networks.sr.srvgg import ActType, SRVGGNetCompact
from ganforge.networks.sr.unet_disc import UNetDiscriminatorSN

SRArch = Literal["srvgg", "rrdb"]
MAX_SCALE = 8  # SRVGGNetCompact upscale factors beyond this are not a super-resolution model anyone ships


def _positive(owner: str, **values: int) -> None:
    for name, v in values.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise UserError(f"{owner}.{name} must be an integer >= 1, got {v!r}")


@dataclass
class SRNetConfig:
    """One super-resolution generator. `scale` is SRVGGNetCompact's `upscale` / RRDBNet's `scale`; `num_conv` and
    `act_type` apply to srvgg only, `num_block` and `num_grow_ch` to rrdb only. Defaults are the official x4 models.
    Not frozen, so a training config can hold it and take key=value overrides (sr.net.num_feat=32)."""

    arch: SRArch = "srvgg"
    num_in_ch: int = 3
    num_out_ch: int = 3
    num_feat: int = 64
    scale: int = 4
    num_conv: int = 16  # srvgg: realesr-general-x4v3 has 32, realesr-animevideov3 16
    act_type: ActType = "prelu"  # srvgg
    num_block: int = 23  # rrdb: RealESRGAN_x4plus has 23, the anime 6B model 6
    num_grow_ch: int = 32  # rrdb

    def __post_init__(self) -> None:
        if self.arch not in get_args(SRArch):
            raise UserError(f"SRNetConfig.arch must be one of {', '.join(get_args(SRArch))}, got {self.arch!r}")
        if self.act_type not in get_args(ActType):
            raise UserError(f"SRNetConfig.act_type must be one of {', '.join(get_args(ActType))}, "
                            f"got {self.act_type!r}")
        _positive("SRNetConfig", num_in_ch=self.num_in_ch, num_out_ch=self.num_out_ch, num_feat=self.num_feat,
                  scale=self.scale, num_block=self.num_block, num_grow_ch=self.num_grow_ch)
        if isinstance(self.num_conv, bool) or not isinstance(self.num_conv, int) or self.num_conv < 0:
            raise UserError(f"SRNetConfig.num_conv must be an integer >= 0, got {self.num_conv!r}")
        if self.arch == "rrdb" and self.scale not in UNSHUFFLE:
            raise UserError(f"SRNetConfig.scale must be 1, 2 or 4 for rrdb (BasicSR RRDBNet), got {self.scale}")
        if self.arch == "srvgg" and self.scale > MAX_SCALE:
            raise UserError(f"SRNetConfig.scale must be at most {MAX_SCALE} for srvgg, got {self.scale}")
        if self.arch == "srvgg" and self.num_out_ch != self.num_in_ch:
            raise UserError("SRNetConfig: srvgg adds the upsampled input to its output, so num_out_ch must equal "
                            f"num_in_ch, got {self.num_out_ch} and {self.num_in_ch}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SRNetConfig:
        """From a JSON object; unknown keys are an error naming them."""
        return cls(**_known(cls, data))


@dataclass
class SRDiscConfig:
    """Real-ESRGAN's U-Net discriminator with spectral norm (official: num_feat 64, skip connections on)."""

    num_in_ch: int = 3
    num_feat: int = 64
    skip_connection: bool = True

    def __post_init__(self) -> None:
        _positive("SRDiscConfig", num_in_ch=self.num_in_ch, num_feat=self.num_feat)
        if not isinstance(self.skip_connection, bool):
            raise UserError(f"SRDiscConfig.skip_connection must be true or false, got {self.skip_connection!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SRDiscConfig:
        return cls(**_known(cls, data))


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise UserError(f"{cls.__name__}: expected a JSON object, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise UserError(f"{cls.__name__}: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    return data


def build_sr_generator(cfg: SRNetConfig) -> nn.Module:
    """SRVGGNetCompact or RRDBNet for `cfg`; the network keeps its config as `.cfg`."""
    net: nn.Module
    if cfg.arch == "srvgg":
        net = SRVGGNetCompact(cfg.num_in_ch, cfg.num_out_ch, cfg.num_feat, cfg.num_conv, cfg.scale, cfg.act_type)
    else:
        net = RRDBNet(cfg.num_in_ch, cfg.num_out_ch, cfg.scale, cfg.num_feat, cfg.num_block, cfg.num_grow_ch)
    net.cfg = cfg
    return net


def build_sr_discriminator(cfg: SRDiscConfig) -> UNetDiscriminatorSN:
    """UNetDiscriminatorSN for `cfg`; the network keeps its config as `.cfg`."""
    net = UNetDiscriminatorSN(cfg.num_in_ch, cfg.num_feat, cfg.skip_connection)
    net.cfg = cfg
    return net
