"""Exponential moving average of generator weights (the model users get for samples, evaluation and export)."""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn

from ganforge.training.schedules import EMAHalfLife, ScaledHalfLife, ema_beta

EXTRA_PREFIX = "G_ema_"  # checkpoint files G_ema_h<kimg>.safetensors hold the extra EMAs (schedule.ema_extra_kimg)


@torch.no_grad()
def update_ema(ema: nn.Module, live: nn.Module, beta: float) -> None:
    """ema <- beta * ema + (1 - beta) * live for parameters; buffers are copied."""
    for p_ema, p in zip(ema.parameters(), live.parameters()):
        p_ema.lerp_(p.detach(), 1.0 - beta)
    for b_ema, b in zip(ema.buffers(), live.buffers()):
        b_ema.copy_(b)


def extra_ema_label(end_kimg: float) -> str:
    """The short name of an extra EMA ending at end_kimg, e.g. 50 -> 'h50' (module and file G_ema_h50)."""
    return f"h{end_kimg:g}"


def extra_ema_labels(checkpoint: Path) -> list[str]:
    """The extra EMAs a checkpoint directory holds ('h20', 'h50', ...), shortest half-life first."""
    labels = [p.name[len(EXTRA_PREFIX):-len(".safetensors")] for p in checkpoint.glob(f"{EXTRA_PREFIX}h*.safetensors")]

    def length(label: str) -> float:
        try:
            return float(label[1:])
        except ValueError:
            return float("inf")

    return sorted(labels, key=lambda label: (length(label), label))


class ExtraEMAs:
    """More EMAs of G beside G_ema, one per schedule.ema_extra_kimg entry, each on G_ema's half-life schedule scaled
    to end at its length (ScaledHalfLife). Nothing reads them during training: one run can compare EMA lengths."""

    def __init__(self, G_ema: nn.Module, main: EMAHalfLife, ends_kimg: list[float]):
        self.modules: dict[str, nn.Module] = {EXTRA_PREFIX + extra_ema_label(h): copy.deepcopy(G_ema)
                                              for h in ends_kimg}
        self.halflives = {EXTRA_PREFIX + extra_ema_label(h): ScaledHalfLife(main, h) for h in ends_kimg}

    def update(self, live: nn.Module, batch_size: int, cur_nimg: float) -> None:
        """One step of every extra EMA towards the live G, with the decay of its own half-life at cur_nimg."""
        for name, ema in self.modules.items():
            update_ema(ema, live, ema_beta(batch_size, self.halflives[name](cur_nimg)))

    @torch.no_grad()
    def copy_from(self, G_ema: nn.Module, names: list[str] | None = None) -> None:
        """Restart the named extra EMAs (default all) as copies of G_ema."""
        for name in self.modules if names is None else names:
            self.modules[name].load_state_dict(G_ema.state_dict())
