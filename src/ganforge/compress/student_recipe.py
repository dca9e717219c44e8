"""The teacher run's StyleGAN2-ADA recipe for the student's adversarial training (StyleGAN2 teachers only).

NICKEL & DiME Sec. 4 follows "the architecture and training setups of StyleGAN2 [...] except for augmentation",
and CAGC, whose pruned students it uses, trains them with StyleGAN2's losses. So a StyleGAN2 teacher's student gets
the teacher run's loss (the runner's DistillSetup), its lazy R1 (every loss.r_every-th step, weighted by r_every;
StyleGAN2 Sec. 3.5), style mixing around every G_S training pass (StyleGAN Sec. 3.1), with G_T replaying G_S's
mixing and per-layer noise wherever it is the distillation target, and lazy path-length regularisation on G_S
(StyleGAN2 Eq. 4) in the generator steps that carry an adversarial term. The pieces are training.stylegan_recipe's.
R3GAN teachers (and student_recipe="none") get the inert recipe: every method step is exactly what it was before.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

from ganforge.training.stylegan_recipe import StyleGANRecipe


class StudentRecipe:
    """The recipe pieces a distillation method plugs in; inert (no hooks, R1/R2 every step, no path length) unless
    built from a StyleGAN2 teacher's TrainConfig. `step` is the run's step counter (the runner sets it)."""

    def __init__(self, recipe: StyleGANRecipe | None = None, r_every: int = 1, loss_name: str = "") -> None:
        self.recipe, self.loss_name = recipe, loss_name
        self.r_every = r_every if recipe is not None else 1
        self.step = 0
        self._last_penalty: dict[int, dict[str, float]] = {}  # per critic: the R1/R2 lazy steps log

    @classmethod
    def for_teacher(cls, teacher_cfg: Any, choice: str, device: torch.device) -> StudentRecipe:
        """The teacher run's recipe for a StyleGAN2 teacher with choice "teacher"; otherwise the inert one."""
        if choice != "teacher" or teacher_cfg.net.arch != "stylegan2":
            return cls()
        return cls(StyleGANRecipe(teacher_cfg, device), teacher_cfg.loss.r_every, teacher_cfg.loss.name)

    @property
    def active(self) -> bool:
        return self.recipe is not None

    @property
    def regularising(self) -> bool:
        """Whether this step carries the critics' R1/R2 (every r_every-th step; always with the inert recipe)."""
        return self.step % self.r_every == 0

    def pieces(self) -> dict[str, Any]:
        """The applied pieces, as compress.json and the start log event record them."""
        if self.recipe is None:
            return {"recipe": "none"}
        pl = self.recipe.path_length
        return {"recipe": "stylegan2 (teacher run)", "loss": self.loss_name, "r1_every": self.r_every,
                "style_mixing": self.recipe.style_mixing.prob, "pl_weight": pl.weight, "pl_every": pl.every,
                "pl_batch_shrink": pl.batch_shrink, "teacher_replays_mixing_and_noise": True}

    def state_dict(self) -> dict[str, float]:
        """The recipe's training state for checkpoints: path length's running mean (nothing when inert)."""
        return {} if self.recipe is None else self.recipe.state_dict()

    def load_state_dict(self, state: dict[str, float]) -> None:
        if self.recipe is not None:
            self.recipe.load_state_dict(state)

    def mixing(self, G: nn.Module, teacher: nn.Module | None = None) -> contextlib.AbstractContextManager:
        """Style mixing around G_S's training pass; `teacher` (G_T as the distillation target, called after G_S
        inside the block) replays G_S's mixing draw and noise. Nothing with the inert recipe."""
        return contextlib.nullcontext() if self.recipe is None else self.recipe.mixing(G, teacher)

    def penalties(self, gamma: float, r1: bool, r2: bool) -> tuple[float, bool, bool]:
        """(weight, r1, r2) of this step's critic penalties: lazy R1/R2 every r_every-th step, weighted by r_every
        so the expected penalty is unchanged (StyleGAN2 Sec. 3.5)."""
        if self.recipe is None:
            return gamma, r1, r2
        return gamma * self.r_every, r1 and self.regularising, r2 and self.regularising

    def penalty_terms(self, D: nn.Module, terms: dict[str, float]) -> dict[str, float]:
        """A critic's logged terms; lazy steps log its last R1/R2 and `regularised` 0 (as the trainer does)."""
        if self.recipe is None:
            return terms
        if self.regularising:
            self._last_penalty[id(D)] = {k: terms[k] for k in ("R1", "R2") if k in terms}
        return {**terms, **self._last_penalty.get(id(D), {}), "regularised": float(self.regularising)}

    def path_length(self, G: nn.Module, z: torch.Tensor, c: torch.Tensor | None
                    ) -> tuple[torch.Tensor | float, dict[str, float]]:
        """Lazy path-length penalty of G_S to add to its loss, and its logged terms (0 and {} when inert). Call
        it outside `mixing`: it opens its own mixed pass."""
        if self.recipe is None:
            return 0.0, {}
        return self.recipe.path_length(G, z, c, self.step)


__all__ = ["StudentRecipe"]
