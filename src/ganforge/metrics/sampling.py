"""Generated samples for evaluation: an exact count from fixed seeds, independent of the batch size.

All latents (and uniform class labels for conditional generators) are drawn up front on the CPU from one
torch.Generator seeded with `seed`, so sample i is the same whatever batch size or device is used.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn


def eval_latents(num: int, z_dim: int, num_classes: int = 0, seed: int = 0
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """z ~ N(0, I) [num, z_dim] and, when num_classes > 0, labels ~ U{0..num_classes-1} [num]."""
    g = torch.Generator().manual_seed(int(seed))
    z = torch.randn(num, z_dim, generator=g)
    c = torch.randint(num_classes, (num,), generator=g) if num_classes > 0 else None
    return z, c


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255], rounded and clamped as StyleGAN (and ganforge.data) does."""
    return images.detach().float().mul(127.5).add_(128.0).clamp_(0, 255).to(torch.uint8)


def _device_of(module: nn.Module) -> torch.device:
    p = next(module.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@torch.no_grad()
def iter_generated(G: nn.Module, num: int, seed: int = 0, batch_size: int = 64,
                   device: torch.device | str | None = None, start: int = 0, stop: int | None = None
                   ) -> Iterator[torch.Tensor]:
    """Yield uint8 [B, C, H, W] batches of exactly `num` images from G(z, c) in eval mode; `start`/`stop` pick
    samples [start, stop) of those `num` (a rank's shard), each the same image as in the full sequence."""
    device = torch.device(device) if device is not None else _device_of(G)
    stop = num if stop is None else stop
    if not 0 <= start <= stop <= num:
        raise ValueError(f"sample range [{start}, {stop}) is not within [0, {num})")
    z, c = eval_latents(num, int(G.z_dim), int(getattr(G, "num_classes", 0) or 0), seed)
    was_training = G.training
    G.eval()
    try:
        for i in range(start, stop, batch_size):
            j = min(i + batch_size, stop)
            zb = z[i:j].to(device)
            cb = None if c is None else c[i:j].to(device)
            yield to_uint8(G(zb, cb)).cpu()
    finally:
        G.train(was_training)


def generate_images(G: nn.Module, num: int, seed: int = 0, batch_size: int = 64,
                    device: torch.device | str | None = None) -> torch.Tensor:
    """All `num` images at once (uint8 [num, C, H, W]); for large sets prefer iter_generated."""
    return torch.cat(list(iter_generated(G, num, seed, batch_size, device)))
