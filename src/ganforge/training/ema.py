"""Exponential moving average of generator weights (the model users get for samples, evaluation and export)."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def update_ema(ema: nn.Module, live: nn.Module, beta: float) -> None:
    """ema <- beta * ema + (1 - beta) * live for parameters; buffers are copied."""
    for p_ema, p in zip(ema.parameters(), live.parameters()):
        p_ema.lerp_(p.detach(), 1.0 - beta)
    for b_ema, b in zip(ema.buffers(), live.buffers()):
        b_ema.copy_(b)
