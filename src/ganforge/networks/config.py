"""Network shape configuration: widths, blocks and cardinalities per stage (R3GAN Table 7 notation)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class NetworkConfig:
    """Per-stage lists run from 4x4 up to the output resolution (Table 7 lists them the other way round)."""

    widths: list[int] = field(default_factory=lambda: [768, 768, 768, 768])
    blocks: list[int] = field(default_factory=lambda: [2, 2, 2, 2])
    cardinalities: list[int] = field(default_factory=lambda: [96, 96, 96, 96])
    expansion: int = 2  # inverted bottleneck (Config E)
    z_dim: int = 64
    img_channels: int = 3
    num_classes: int = 0
    g_embed_dim: int = 64  # G: concat(z, embed(c)) (R3GAN App. J, "Class conditioning")
    d_embed_dim: int | None = None  # D projection width; R3GAN's code uses widths[0]
    low_precision_stages: int = 4  # BF16 for the 4 highest-resolution stages when precision is bf16 (App. J)
    # Minibatch standard deviation before D's 4x4 head (Karras et al. 2018, ProGAN Sec. 3): groups of mbstd_group
    # consecutive samples see their feature spread, so D can detect a generator that lost diversity. 0 = off
    # (R3GAN uses no such trick); it needs batches divisible by the group size.
    mbstd_group: int = 0
    # PacGAN (Lin et al. 2018, Sec. 3): D judges `pack` consecutive samples stacked on the channel axis, all real
    # or all fake, so a generator that repeats itself is easier to spot. 1 = off (R3GAN). Class-conditional: the
    # samples of a pack share one label (the trainer draws batches so), and D sees the within-class spread.
    pack: int = 1
    # Image border of the x2 resampling filters: "clamp" repeats edge pixels (ganforge); "zero" pads with zeros as
    # the official R3GAN code does, set by `ganforge import` so imported official models give their own outputs.
    resample_border: Literal["clamp", "zero"] = "clamp"

    def __post_init__(self) -> None:
        if int(self.pack) != self.pack or self.pack < 1:
            raise ValueError(f"net.pack must be an integer >= 1 (1 = no packing), got {self.pack}")
        n = len(self.widths)
        if not (len(self.blocks) == len(self.cardinalities) == n) or n < 1:
            raise ValueError(f"widths/blocks/cardinalities must have the same length, got {n}, {len(self.blocks)}, "
                             f"{len(self.cardinalities)}")
        for w, c in zip(self.widths, self.cardinalities):
            if (w * self.expansion) % c:
                raise ValueError(f"stage width {w} x expansion {self.expansion} is not divisible by cardinality {c}")

    @property
    def resolution(self) -> int:
        return 4 * 2 ** (len(self.widths) - 1)

    @property
    def projection_dim(self) -> int:
        return self.d_embed_dim or self.widths[0]
