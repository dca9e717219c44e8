"""Augmentation-probability controllers: fixed p, R3GAN's cosine burn-in, and ADA's adaptive r_t controller.

All of them track the overfitting heuristic r_t = E[sign(D(real))] (Karras et al. 2020, Eq. 1; slides 002)
over windows of `interval` D steps, so r_t is logged whatever the mode; only the adaptive one acts on it.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from ganforge.utils.distributed import comm_device, world


def cosine_ramp(cur_nimg: float, target: float, burnin_nimg: float) -> float:
    """0 -> target along half a cosine over burnin_nimg images, then target (R3GAN App. J, Table 7)."""
    if burnin_nimg <= 0 or cur_nimg >= burnin_nimg:
        return float(target)
    t = max(cur_nimg, 0) / burnin_nimg
    return float(target) * 0.5 * (1.0 - math.cos(math.pi * t))


class ProbabilityController:
    """Base controller: call `update(cur_nimg, batch_size, d_real_logits)` once per D step; it returns p.

    batch_size is the global number of real images in that D step (all ranks). For relativistic losses (RpGAN)
    pass `d_fake_logits` too: the sign is then taken of the paired difference D(real) - D(fake), since RpGAN
    logits have no fixed zero.
    """

    kind = "base"

    def __init__(self, p: float = 0.0, interval: int = 4) -> None:
        if interval < 1:
            raise ValueError(f"interval must be >= 1, got {interval}")
        self._p = float(p)
        self.interval = int(interval)
        self.r_t: float | None = None
        self._sum: Tensor | None = None  # [sum of signs, count] on the logits' device, local to this rank
        self._steps = 0
        self._nimg = 0

    @property
    def p(self) -> float:
        return self._p

    def update(
        self,
        cur_nimg: int,
        batch_size: int,
        d_real_logits: Tensor | None = None,
        d_fake_logits: Tensor | None = None,
    ) -> float:
        """Accumulate sign statistics; every `interval` calls close the window, set r_t and adjust p."""
        if d_real_logits is not None:
            self._accumulate(d_real_logits, d_fake_logits)
        self._steps += 1
        self._nimg += int(batch_size)
        if self._steps >= self.interval:
            total, count = self._reduce()
            if count > 0:
                self.r_t = total / count
            self._close_window(self.r_t if count > 0 else None, self._nimg)
            self._sum, self._steps, self._nimg = None, 0, 0
        self._p = self._schedule(cur_nimg)
        return self._p

    def _accumulate(self, real: Tensor, fake: Tensor | None) -> None:
        real = real.detach().flatten().to(torch.float64)
        if fake is not None:
            fake = fake.detach().flatten().to(torch.float64)
            if fake.shape != real.shape:
                raise ValueError(f"paired logits need equal shapes, got {tuple(real.shape)} and {tuple(fake.shape)}")
            real = real - fake
        step = torch.stack(
            [
                torch.sign(real).sum(),
                torch.tensor(float(real.numel()), dtype=torch.float64, device=real.device),
            ]
        )
        self._sum = step if self._sum is None else self._sum + step.to(self._sum.device)

    def _reduce(self) -> tuple[float, float]:
        """Window totals, all-reduced over ranks when torch.distributed is initialised (all ranks call it)."""
        acc = self._sum if self._sum is not None else torch.zeros(2, dtype=torch.float64)
        if world()[1] > 1:
            acc = acc.to(comm_device(), copy=True)
            dist.all_reduce(acc)
        total, count = acc.tolist()
        return total, count

    def _close_window(self, r_t: float | None, window_nimg: int) -> None:
        """Hook for controllers that act on r_t; the base only records it."""

    def _schedule(self, cur_nimg: int) -> float:
        return self._p

    def stats(self) -> dict[str, float]:
        """{"p", "r_t"} for logging; r_t is NaN until the first window with logits has closed."""
        return {"p": self._p, "r_t": float("nan") if self.r_t is None else self.r_t}

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state, including the open window so single-process resume is exact."""
        acc = [0.0, 0.0] if self._sum is None else self._sum.tolist()
        return {
            "kind": self.kind,
            "p": self._p,
            "r_t": self.r_t,
            "window_steps": self._steps,
            "window_nimg": self._nimg,
            "window_sum": acc[0],
            "window_count": acc[1],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore p, r_t and the open window (multi-rank DDP restarts the window: its sums were local)."""
        if state.get("kind", self.kind) != self.kind:
            raise ValueError(f"checkpoint holds a '{state['kind']}' controller, this one is '{self.kind}'")
        self._p = float(state["p"])
        self.r_t = None if state.get("r_t") is None else float(state["r_t"])
        self._sum, self._steps, self._nimg = None, 0, 0
        if world()[1] == 1:
            self._steps = int(state.get("window_steps", 0))
            self._nimg = int(state.get("window_nimg", 0))
            if state.get("window_count", 0.0) > 0:
                self._sum = torch.tensor([state["window_sum"], state["window_count"]], dtype=torch.float64)


class FixedProbability(ProbabilityController):
    """Constant p."""

    kind = "fixed"


class CosineProbability(ProbabilityController):
    """p = cosine ramp from 0 to `target` over the burn-in (R3GAN: not needed before D overfits)."""

    kind = "cosine"

    def __init__(self, target: float, burnin_kimg: float, interval: int = 4) -> None:
        self.target, self.burnin_nimg = float(target), float(burnin_kimg) * 1000.0
        super().__init__(cosine_ramp(0, self.target, self.burnin_nimg), interval)

    def _schedule(self, cur_nimg: int) -> float:
        return cosine_ramp(cur_nimg, self.target, self.burnin_nimg)


class AdaptiveProbability(ProbabilityController):
    """ADA: every `interval` D steps p += sign(r_t - target) * window_images / (speed_kimg * 1000), in [0, 1].

    Karras et al. 2020 Sec. 3: with speed_kimg = 500, p can go from 0 to 1 in 500k images.
    """

    kind = "adaptive"

    def __init__(self, target: float = 0.6, speed_kimg: float = 500.0, interval: int = 4, p: float = 0.0) -> None:
        if speed_kimg <= 0:
            raise ValueError(f"ada_kimg must be > 0, got {speed_kimg}")
        self.target, self.speed_nimg = float(target), float(speed_kimg) * 1000.0
        super().__init__(p, interval)

    def _close_window(self, r_t: float | None, window_nimg: int) -> None:
        if r_t is None:
            return
        step = math.copysign(1.0, r_t - self.target) if r_t != self.target else 0.0
        self._p = min(max(self._p + step * window_nimg / self.speed_nimg, 0.0), 1.0)
