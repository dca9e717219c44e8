"""LPIPS (Zhang et al. 2018) with the official `lpips` package's layers and linear weights on ganforge's trunks.

Identical maths to `lpips.LPIPS(version="0.1")`: ScalingLayer, channel-normalised taps after the same relu layers,
squared differences weighted by the learned 1x1 convs, spatial means summed over layers. The trunk comes from
`ganforge.perceptual.features` (ImageNet weights found offline), and the pass is exposed in two halves (`taps`,
`distance_from_taps`) so callers can run the teacher's half without an autograd graph. `precision="bf16"` runs
the frozen trunk's convolutions under BF16 autocast (taps, normalisation and the distance stay FP32); "auto" uses
it only where BF16 convolutions are native (CUDA, CPUs with AVX512-BF16/AMX), never on AVX2-only CPUs.
"""

from __future__ import annotations

import os
from pathlib import Path

import lpips as lpips_pkg
import torch
from torch import nn

from ganforge.perceptual.features import build_backbone, make_trunk, to_rgb
from ganforge.perceptual.weights import backbone_spec
from ganforge.utils.perf import native_bf16

__all__ = ["LPIPS", "PRECISIONS", "lpips_linear_weights_path", "native_bf16", "resolve_precision"]

PRECISIONS = ("fp32", "bf16", "auto")

_SLICES = {  # features index ranges ending at the relu taps used by lpips.pretrained_networks
    "vgg16": ((0, 4), (4, 9), (9, 16), (16, 23), (23, 30)),
    "alexnet": ((0, 2), (2, 5), (5, 8), (8, 10), (10, 12)),
}
_LPIPS_NET = {"vgg16": "vgg", "alexnet": "alex"}


def lpips_linear_weights_path(name: str) -> Path:
    """The learned linear-layer weights shipped with the `lpips` package (v0.1) for backbone `name`."""
    net = _LPIPS_NET[backbone_spec(name).name]
    return Path(lpips_pkg.__file__).resolve().parent / "weights" / "v0.1" / f"{net}.pth"


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' -> 'bf16' where native_bf16(device), else 'fp32'; explicit values pass through (validated)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision


class LPIPS(nn.Module):
    """LPIPS distance d(x0, x1) -> [N] for images in [-1, 1] (1-channel images are repeated to RGB).

    `net`: "vgg16"/"vgg" or "alexnet"/"alex". `weights`: explicit backbone file/dir (else the standard search).
    `pretrained_trunk=False` gives a random-weight trunk (for tests and ablations only). `channels_last` runs the
    trunk in NHWC memory format (same values; measured 15-40% faster on CPU for VGG16 at 32x32). `precision`:
    "fp32" (default, the reference values), "bf16" (trunk convolutions under BF16 autocast) or "auto".
    """

    def __init__(self, net: str = "vgg16", weights: str | os.PathLike | None = None, *,
                 lin_weights: str | os.PathLike | None = None, pretrained_trunk: bool = True,
                 allow_download: bool | None = None, channels_last: bool = True, precision: str = "fp32") -> None:
        super().__init__()
        resolve_precision(precision, torch.device("cpu"))  # validate early
        self.precision = precision
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.net_name = backbone_spec(net).name
        trunk = build_backbone(self.net_name, weights, allow_download=allow_download) if pretrained_trunk \
            else make_trunk(self.net_name)
        self.scaling_layer = lpips_pkg.ScalingLayer()
        self.slices = nn.ModuleList(nn.Sequential(*trunk[a:b]) for a, b in _SLICES[self.net_name])
        channels = [max(m.out_channels for m in s if isinstance(m, nn.Conv2d)) for s in self.slices]
        self.lins = nn.ModuleList(lpips_pkg.NetLinLayer(c, use_dropout=False) for c in channels)
        path = Path(lin_weights) if lin_weights is not None else lpips_linear_weights_path(self.net_name)
        state = torch.load(str(path), map_location="cpu", weights_only=True)  # lpips ships them saved on CUDA
        self.lins.load_state_dict({f"{k}.model.0.weight": state[f"lin{k}.model.1.weight"] for k in range(5)})
        self.slices.to(memory_format=self.memory_format)
        self.eval()
        self.requires_grad_(False)

    def taps(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Channel-normalised trunk activations at the five LPIPS layers (lpips.normalize_tensor)."""
        x = self.scaling_layer(to_rgb(images)).contiguous(memory_format=self.memory_format)
        bf16 = resolve_precision(self.precision, x.device) == "bf16"
        out = []
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            for block in self.slices:
                x = block(x)
                out.append(lpips_pkg.normalize_tensor(x.float()))  # FP32 taps: normalisation and distance in FP32
        return out

    def distance_from_taps(self, taps0: list[torch.Tensor], taps1: list[torch.Tensor]) -> torch.Tensor:
        """Sum over layers of the spatially averaged, linearly weighted squared tap differences -> [N] (LPIPS Eq. 1)."""
        total = None
        for lin, a, b in zip(self.lins, taps0, taps1, strict=True):
            term = lin((a - b) ** 2).mean(dim=(1, 2, 3))
            total = term if total is None else total + term
        assert total is not None
        return total

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        """LPIPS distance per sample [N], both images through the trunk in one batched pass."""
        n = x0.shape[0]
        taps = self.taps(torch.cat([to_rgb(x0), to_rgb(x1)]))
        return self.distance_from_taps([t[:n] for t in taps], [t[n:] for t in taps])
