"""R3GAN Config E building blocks (Sec. 3, Fig. 1): bias-free convs, biased leaky ReLU, bilinear resampling."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LEAKY_SLOPE = 0.2
ACTIVATION_GAIN = math.sqrt(2.0 / (1.0 + LEAKY_SLOPE**2))  # He gain of leaky ReLU(0.2)


def msr_init(layer: nn.Conv2d | nn.Linear, gain: float = 1.0) -> nn.Module:
    """He ("MSR") initialisation N(0, gain^2 / fan_in); gain 0 gives the zero init of fix-up."""
    fan_in = layer.weight[0].numel()
    nn.init.normal_(layer.weight, 0.0, gain / math.sqrt(fan_in))
    if getattr(layer, "bias", None) is not None:
        nn.init.zeros_(layer.bias)
    return layer


def conv(cin: int, cout: int, kernel: int = 1, groups: int = 1, gain: float = 1.0) -> nn.Conv2d:
    """Bias-free 'same' convolution; biases live in the activations (R3GAN code convention)."""
    layer = nn.Conv2d(cin, cout, kernel, padding=(kernel - 1) // 2, groups=groups, bias=False)
    return msr_init(layer, gain)


class BiasedActivation(nn.Module):
    """Per-channel bias followed by leaky ReLU(0.2)."""

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.ndim - 2)
        return F.leaky_relu(x + self.bias.to(x.dtype).view(shape), LEAKY_SLOPE)


_BILINEAR_TAPS = torch.tensor([1.0, 3.0, 3.0, 1.0]) / 8.0


def upsample2x(x: torch.Tensor, border: str = "clamp") -> torch.Tensor:
    """Bilinear x2 upsampling (R3GAN principle d: interpolation instead of transposed convolution).

    border "clamp" repeats edge pixels (F.interpolate); "zero" pads with zeros, as the official R3GAN code's
    transposed [1,3,3,1] filter does, so imported official models reproduce their outputs (differs at the edges only).
    """
    if border == "clamp":
        return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
    c = x.shape[1]
    k = (4 * torch.outer(_BILINEAR_TAPS, _BILINEAR_TAPS)).to(x.device, x.dtype).expand(c, 1, 4, 4)
    return F.conv_transpose2d(x, k, stride=2, padding=1, groups=c)



def downsample2x(x: torch.Tensor, border: str = "clamp") -> torch.Tensor:
    """Bilinear x2 downsampling: the [1,3,3,1] tent filter (adjoint of bilinear upsampling), stride 2, edge-clamped
    ("clamp") or zero-padded ("zero", the official R3GAN code's border, see upsample2x)."""
    c = x.shape[1]
    k = torch.outer(_BILINEAR_TAPS, _BILINEAR_TAPS).to(x.device, x.dtype).expand(c, 1, 4, 4)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate" if border == "clamp" else "constant"), k, stride=2,
                    groups=c)


class ResidualBlock(nn.Module):
    """1x1 -> act -> grouped 3x3 -> act -> 1x1 (no bias), inverted bottleneck, identity skip (R3GAN Fig. 1, Config E).

    Fix-up init (R3GAN Sec. 3): last conv zero, the other two scaled by L^-0.25 for L residual blocks in the network.
    """

    def __init__(self, channels: int, cardinality: int, expansion: int, num_blocks_total: int, kernel: int = 3):
        super().__init__()
        hidden = channels * expansion
        if hidden % cardinality:
            raise ValueError(f"expanded width {hidden} is not divisible by cardinality {cardinality}")
        gain = ACTIVATION_GAIN * num_blocks_total ** (-0.25)
        self.conv1 = conv(channels, hidden, 1, gain=gain)
        self.act1 = BiasedActivation(hidden)
        self.conv2 = conv(hidden, hidden, kernel, groups=cardinality, gain=gain)
        self.act2 = BiasedActivation(hidden)
        self.conv3 = conv(hidden, channels, 1, gain=0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act1(self.conv1(x))
        y = self.act2(self.conv2(y))
        return x + self.conv3(y)  # no division by sqrt(2) (R3GAN Config E)


class UpTransition(nn.Module):
    """Generator transition: optional 1x1 conv when the width changes, then bilinear x2 upsampling."""

    def __init__(self, cin: int, cout: int, border: str = "clamp"):
        super().__init__()
        self.proj = conv(cin, cout, 1) if cin != cout else None
        self.border = border

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upsample2x(self.proj(x) if self.proj is not None else x, self.border)


class DownTransition(nn.Module):
    """Discriminator transition: bilinear x2 downsampling, then optional 1x1 conv when the width changes."""

    def __init__(self, cin: int, cout: int, border: str = "clamp"):
        super().__init__()
        self.proj = conv(cin, cout, 1) if cin != cout else None
        self.border = border

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = downsample2x(x, self.border)
        return self.proj(x) if self.proj is not None else x


class GenerativeBasis(nn.Module):
    """4x4 learnable feature maps modulated channel-wise by a linear map of z (R3GAN Sec. 3)."""

    def __init__(self, in_dim: int, channels: int):
        super().__init__()
        self.basis = nn.Parameter(torch.randn(channels, 4, 4))
        self.linear = msr_init(nn.Linear(in_dim, channels, bias=False))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.basis.unsqueeze(0) * self.linear(z).unsqueeze(-1).unsqueeze(-1)


class DiscriminativeBasis(nn.Module):
    """Classifier head: 4x4 depthwise conv removing spatial extent, then a linear layer (R3GAN Sec. 3)."""

    def __init__(self, channels: int, out_dim: int):
        super().__init__()
        self.depthwise = msr_init(nn.Conv2d(channels, channels, 4, groups=channels, bias=False))
        self.linear = msr_init(nn.Linear(channels, out_dim, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.depthwise(x).flatten(1))


class MinibatchStd(nn.Module):
    """Appends one channel: the mean over features of the std over each group of consecutive samples (ProGAN).

    Consecutive grouping keeps the halves of a concatenated [real; fake] batch apart whenever each half is a
    multiple of the group size, so reals never share a statistic with fakes.
    """

    def __init__(self, group: int):
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = min(self.group, n)
        if n % g:
            raise ValueError(f"minibatch-std group {self.group} does not divide the batch of {n}; use a batch size "
                             "that is a multiple of net.mbstd_group")
        y = x.float().view(n // g, g, c, h, w)
        std = (y.var(dim=1, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # [n // g]
        stat = std.repeat_interleave(g).view(n, 1, 1, 1).expand(n, 1, h, w).to(x.dtype)
        return torch.cat([x, stat], dim=1)
