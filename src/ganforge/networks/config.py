"""Network configuration: the architecture (`arch`), R3GAN's widths, blocks and cardinalities per stage (R3GAN
Table 7 notation), and the StyleGAN2/StyleGAN3 settings of the other architectures (`arch_kwargs`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from ganforge.networks.stylegan2.config import StyleGAN2Config
from ganforge.networks.stylegan3.config import StyleGAN3Config

Arch = Literal["r3gan", "stylegan2", "stylegan3"]
# Set from net.z_dim, net.num_classes and net.img_channels (shared by every architecture and read by the trainer);
# the discriminator of a stylegan3 run also takes img_resolution from the generator's settings.
SHARED_KEYS = {"z_dim": "net.z_dim", "c_dim": "net.num_classes", "img_channels": "net.img_channels"}
# The StyleGAN2 discriminator defaults of the official StyleGAN3 code where they differ from StyleGAN2Config's.
SG3_D_DEFAULTS = {"num_fp16_res": 4, "conv_clamp": 256}


@dataclass
class NetworkConfig:
    """Per-stage lists run from 4x4 up to the output resolution (Table 7 lists them the other way round).

    `arch` picks the networks (ganforge.networks.registry): "r3gan" reads the R3GAN fields below; "stylegan2" and
    "stylegan3" read `arch_kwargs` (StyleGAN2Config / StyleGAN3Config fields; stylegan3 takes its StyleGAN2
    discriminator's fields under "d") plus z_dim, num_classes and img_channels, and ignore the R3GAN-only fields.
    """

    widths: list[int] = field(default_factory=lambda: [768, 768, 768, 768])
    blocks: list[int] = field(default_factory=lambda: [2, 2, 2, 2])
    cardinalities: list[int] = field(default_factory=lambda: [96, 96, 96, 96])
    expansion: int = 2  # inverted bottleneck (Config E)
    z_dim: int = 64
    img_channels: int = 3
    num_classes: int = 0
    g_embed_dim: int = 64  # G: concat(z, embed(c)) (R3GAN App. J, "Class conditioning")
    d_embed_dim: int | None = None  # D projection width; R3GAN's code uses D's 4x4 width
    # D's own per-stage widths and cardinalities (4x4 first, like widths); None = the generator's (R3GAN mirrors
    # G). D makes about twice G's passes per step; on mnist5k a D wider than G was the best use of 30 CPU minutes
    # (preset tiny-dwide, docs/time_to_quality.md).
    d_widths: list[int] | None = None
    d_cardinalities: list[int] | None = None
    low_precision_stages: int = 4  # BF16 for the 4 highest-resolution stages when precision is bf16 (App. J)
    # Minibatch standard deviation before D's 4x4 head (Karras et al. 2018, ProGAN Sec. 3): groups of mbstd_group
    # consecutive samples see their feature spread, so D can detect a generator that lost diversity. 0 = off
    # (R3GAN uses no such trick); it needs batches divisible by the group size. When a half batch (per process,
    # in packs) is not a whole number of groups, reals and fakes go through D separately, never in one group.
    mbstd_group: int = 0
    # PacGAN (Lin et al. 2018, Sec. 3): D judges `pack` consecutive samples stacked on the channel axis, all real
    # or all fake, so a generator that repeats itself is easier to spot. 1 = off (R3GAN). Class-conditional: the
    # samples of a pack share one label (the trainer draws batches so), and D sees the within-class spread.
    pack: int = 1
    # Image border of the x2 resampling filters: "clamp" repeats edge pixels (ganforge); "zero" pads with zeros as
    # the official R3GAN code does, set by `ganforge import` so imported official models give their own outputs.
    resample_border: Literal["clamp", "zero"] = "clamp"
    # Architecture (ganforge.networks.registry); old config.json files without it load as r3gan.
    arch: Arch = "r3gan"
    arch_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.arch not in get_args(Arch):
            raise ValueError(f"net.arch must be one of {', '.join(get_args(Arch))}, got {self.arch!r}")
        if not isinstance(self.arch_kwargs, dict):
            raise ValueError(f"net.arch_kwargs must be a JSON object of settings, got {self.arch_kwargs!r}")
        if self.arch != "r3gan":
            self.stylegan_configs()  # validated when built: unknown keys and bad values fail here
            return
        if self.arch_kwargs:
            raise ValueError(f"net.arch_kwargs {sorted(self.arch_kwargs)} apply to net.arch=stylegan2/stylegan3 only; "
                             "R3GAN takes net.widths, net.blocks, ... instead")
        if int(self.pack) != self.pack or self.pack < 1:
            raise ValueError(f"net.pack must be an integer >= 1 (1 = no packing), got {self.pack}")
        n = len(self.widths)
        if not (len(self.blocks) == len(self.cardinalities) == n) or n < 1:
            raise ValueError(f"widths/blocks/cardinalities must have the same length, got {n}, {len(self.blocks)}, "
                             f"{len(self.cardinalities)}")
        if (self.d_widths is None) != (self.d_cardinalities is None):
            raise ValueError("set net.d_widths and net.d_cardinalities together (or neither: D mirrors G)")
        if self.d_widths is not None and not len(self.d_widths) == len(self.d_cardinalities) == n:
            raise ValueError(f"net.d_widths/net.d_cardinalities need {n} entries each (one per stage, like "
                             f"net.widths), got {len(self.d_widths)} and {len(self.d_cardinalities)}")
        pairs = [*zip(self.widths, self.cardinalities), *zip(self.disc_widths, self.disc_cardinalities)]
        for w, c in pairs:
            if (w * self.expansion) % c:
                raise ValueError(f"stage width {w} x expansion {self.expansion} is not divisible by cardinality {c}")

    def stylegan_configs(self) -> tuple[StyleGAN2Config | StyleGAN3Config, StyleGAN2Config]:
        """(G config, D config) of net.arch=stylegan2 (one StyleGAN2Config for both, as the official code shares
        it) or stylegan3 (StyleGAN3Config; D is the official code's StyleGAN2 discriminator, settings under "d")."""
        if self.arch == "r3gan":
            raise ValueError("net.arch=r3gan has no StyleGAN settings")
        if self.pack != 1 or self.mbstd_group:
            raise ValueError("net.pack and net.mbstd_group are R3GAN settings; StyleGAN discriminators take "
                             "mbstd_group_size / mbstd_num_channels in net.arch_kwargs")
        kwargs = dict(self.arch_kwargs)
        for key, where in SHARED_KEYS.items():
            if key in kwargs:
                raise ValueError(f"net.arch_kwargs.{key}: set {where} instead (shared by every architecture)")
        shared = {"z_dim": self.z_dim, "c_dim": self.num_classes, "img_channels": self.img_channels}
        if self.arch == "stylegan2":
            cfg = _build(StyleGAN2Config, {**kwargs, **shared}, "net.arch_kwargs")
            return cfg, cfg
        d_kwargs = kwargs.pop("d", {})
        g = _build(StyleGAN3Config, {**kwargs, **shared}, "net.arch_kwargs")
        if not isinstance(d_kwargs, dict):
            raise ValueError(f"net.arch_kwargs.d must be a JSON object of discriminator settings, got {d_kwargs!r}")
        taken = sorted({*SHARED_KEYS, "img_resolution"} & set(d_kwargs))
        if taken:
            raise ValueError(f"net.arch_kwargs.d.{taken[0]}: the discriminator takes it from the generator settings")
        d_defaults = {**SG3_D_DEFAULTS, "channel_base": g.channel_base, "channel_max": g.channel_max}
        d_shared = {"c_dim": g.c_dim, "img_channels": g.img_channels, "img_resolution": g.img_resolution}
        d = _build(StyleGAN2Config, {**d_defaults, **d_kwargs, **d_shared}, "net.arch_kwargs.d")
        return g, d

    @property
    def resolution(self) -> int:
        if self.arch != "r3gan":
            default = StyleGAN2Config.__dataclass_fields__["img_resolution"].default
            return int(self.arch_kwargs.get("img_resolution", default))
        return 4 * 2 ** (len(self.widths) - 1)

    @property
    def disc_widths(self) -> list[int]:
        """D's stage widths, 4x4 first (net.d_widths, else the generator's)."""
        return list(self.widths if self.d_widths is None else self.d_widths)

    @property
    def disc_cardinalities(self) -> list[int]:
        return list(self.cardinalities if self.d_cardinalities is None else self.d_cardinalities)

    @property
    def projection_dim(self) -> int:
        return self.d_embed_dim or self.disc_widths[0]


def _build(cls: type, kwargs: dict[str, Any], where: str) -> Any:
    """cls(**kwargs) with unknown keys named; the config's own checks raise UserError (a ValueError)."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(kwargs) - names)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)} for {cls.__name__}; known: "
                         f"{', '.join(sorted(names - set(SHARED_KEYS)))}")
    return cls(**kwargs)
