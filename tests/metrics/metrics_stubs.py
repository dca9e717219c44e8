"""Stand-ins shared by the metrics tests: a tiny generator and a tiny counting feature network."""

from __future__ import annotations

import torch
from torch import nn


class TinyGenerator(nn.Module):
    """z (and optional class) -> 3x8x8 images in [-1, 1]; `shift` moves its output distribution."""

    def __init__(self, z_dim: int = 16, num_classes: int = 0, channels: int = 3, shift: float = 0.0) -> None:
        super().__init__()
        self.z_dim, self.num_classes = z_dim, num_classes
        self.embed = nn.Embedding(max(num_classes, 1), z_dim)
        self.fc = nn.Linear(z_dim, channels * 64)
        self.channels, self.shift = channels, shift
        self.seen_labels: list[torch.Tensor] = []
        g = torch.Generator().manual_seed(1)  # every parameter fixed: two instances are the same generator
        with torch.no_grad():
            torch.nn.init.normal_(self.fc.weight, std=0.3, generator=g)
            torch.nn.init.normal_(self.embed.weight, std=1.0, generator=g)
            self.fc.bias.zero_()

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes:
            assert c is not None and c.dtype == torch.long
            self.seen_labels.append(c.cpu())
            z = z + self.embed(c)
        return torch.tanh(self.fc(z) + self.shift).view(-1, self.channels, 8, 8)


class CountingNet(nn.Module):
    """A fixed random conv feature net that counts the images it has seen."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 12, 3, padding=1)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g) * 0.3)
            self.conv.bias.zero_()
        self.images_seen = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.images_seen += len(x)
        h = torch.relu(self.conv(x))
        return torch.cat([h.mean(dim=(2, 3)), x.flatten(1)], 1)  # 12 + 192 features
