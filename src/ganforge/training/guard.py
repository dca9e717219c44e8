"""Divergence guard: detect non-finite losses or gradients, skip the step, and escalate to rollback or stop."""

from __future__ import annotations

import math

import torch
from torch import nn


class TrainingDiverged(RuntimeError):
    """Training kept producing non-finite values after the allowed skips and rollbacks."""


def grad_norm(module: nn.Module) -> float:
    """Global L2 norm of the gradients (non-finite if any gradient is)."""
    norms = [p.grad.detach().float().norm() for p in module.parameters() if p.grad is not None]
    return float(torch.stack(norms).norm()) if norms else 0.0


def first_nonfinite(terms: dict[str, float]) -> str | None:
    """Name of the first non-finite value in a dict of loss terms and gradient norms."""
    for name, value in terms.items():
        if not math.isfinite(value):
            return name
    return None


class DivergenceGuard:
    """Counts consecutive bad steps; after max_skips asks for a rollback, after max_rollbacks gives up."""

    def __init__(self, max_skips: int, max_rollbacks: int):
        self.max_skips, self.max_rollbacks = max_skips, max_rollbacks
        self.consecutive, self.rollbacks, self.total_skipped = 0, 0, 0

    def good(self) -> None:
        self.consecutive = 0

    def bad(self, step: int, term: str) -> str:
        """Register a skipped step; returns 'skip' or 'rollback', or raises TrainingDiverged."""
        self.consecutive += 1
        self.total_skipped += 1
        if self.consecutive <= self.max_skips:
            return "skip"
        if self.rollbacks >= self.max_rollbacks:
            raise TrainingDiverged(
                f"training diverged: '{term}' was non-finite at step {step} for {self.consecutive} consecutive steps "
                f"after {self.rollbacks} rollbacks. Lower the learning rate (schedule.lr_*), raise gamma "
                "(schedule.gamma_*), or use precision=fp32.")
        self.rollbacks += 1
        self.consecutive = 0
        return "rollback"

    def state_dict(self) -> dict:
        return {"rollbacks": self.rollbacks, "total_skipped": self.total_skipped}

    def load_state_dict(self, state: dict) -> None:
        self.rollbacks, self.total_skipped = state.get("rollbacks", 0), state.get("total_skipped", 0)
