"""Staged recipes: training recipes that own their optimisers and run in named stages, plugged into the one loop
(training.loop). The distillation methods of ganforge.compress are such recipes (SDAKD's supervised stage 2 then
adversarial stage 3, NICKEL & DiME, output KD); `RecipeSteps` gives their run the loop's per-step hooks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch
from torch import nn

from ganforge.data import BatchSampler, to_float
from ganforge.training.ema import update_ema
from ganforge.training.schedules import ema_beta


class StagedRecipe(Protocol):
    """One recipe: its (stage, kimg) list, trainable modules besides G and D, optimisers and one update."""

    def stages(self) -> list[tuple[str, float]]: ...

    def modules(self) -> dict[str, nn.Module]: ...

    def optimizers(self) -> dict[str, torch.optim.Optimizer]: ...

    def step(self, stage: str, real: torch.Tensor, c: torch.Tensor | None, z: torch.Tensor) -> dict[str, float]:
        """Applies the recipe's updates; a "skipped*" term > 0 marks an update refused for a non-finite value."""
        ...


class RecipeSteps:
    """The loop hooks (training.loop.LoopHost) of one iteration of a StagedRecipe: a real batch, fresh latents, the
    recipe's step, EMA of G after an applied update, the counters. More than max_nonfinite_skips consecutive
    refused steps raise FloatingPointError (such a run has no checkpoint history to roll back along).

    Needs: recipe, G, G_ema, sampler, device, batch_size, max_nonfinite_skips, ema_halflife(cur_nimg) -> images.
    """

    recipe: StagedRecipe
    G: nn.Module
    G_ema: nn.Module
    sampler: BatchSampler
    device: torch.device
    batch_size: int
    max_nonfinite_skips: int
    ema_halflife: Callable[[int], float]
    cur_nimg: int = 0
    step: int = 0
    stage: str = ""
    nonfinite: int = 0  # consecutive steps with a refused update

    def begin_stage(self, stage: str) -> None:
        self.stage = stage

    def train_step(self) -> dict[str, float]:
        real_u8, c = self.sampler.next(self.device)
        real = to_float(real_u8)
        z = torch.randn(self.batch_size, self.G.z_dim).to(self.device)
        terms = self.recipe.step(self.stage, real, c, z)
        skipped = any(v for k, v in terms.items() if k.startswith("skipped"))
        self.nonfinite = self.nonfinite + 1 if skipped else 0
        if self.nonfinite > self.max_nonfinite_skips:
            raise FloatingPointError(f"{self.nonfinite} consecutive non-finite steps at {self.cur_nimg} "
                                     "images; lower the learning rate or loss weights")
        if not skipped:
            update_ema(self.G_ema, self.G, ema_beta(self.batch_size, self.ema_halflife(self.cur_nimg)))
        self.cur_nimg += self.batch_size
        self.step += 1
        return terms

    def should_stop(self) -> bool:
        return False

    def handle_nonfinite(self, term: str) -> None:
        """Unreached: refused steps are counted in train_step, which never reports a "nonfinite" term."""
        raise FloatingPointError(f"non-finite {term} at {self.cur_nimg} images")

    def log_record(self, stage: str, sec_per_kimg: float, terms: dict) -> dict:
        return {"kimg": self.cur_nimg / 1000, "step": self.step, "stage": stage, "sec_per_kimg": sec_per_kimg,
                **terms}


__all__ = ["RecipeSteps", "StagedRecipe"]
