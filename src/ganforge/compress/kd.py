"""`kd`: plain output distillation, the CAGC-style baseline: G_S(z) imitates G_T(z) under L1 + LPIPS.

With kd.adv_weight > 0 a student-width D is trained with the teacher's GAN loss (RpGAN + R1 + R2 for R3GAN
teachers; the teacher run's StyleGAN2 recipe for StyleGAN2 teachers, compress.student_recipe) and the student
generator adds adv_weight times its adversarial term.
"""

from __future__ import annotations

import torch
from torch import nn

from ganforge.compress.common import (
    DistillMethod,
    DistillSetup,
    SupervisedLoss,
    adam,
    adversarial_g_loss,
    critic_loss,
    optimizer_step,
)


class KDMethod(DistillMethod):
    name = "kd"

    def __init__(self, setup: DistillSetup):
        super().__init__(setup)
        self.sup = SupervisedLoss(setup.cfg.sup).to(setup.device)
        self.adv_weight = setup.cfg.kd.adv_weight
        self.opt_G = adam(setup.G_S.parameters(), setup.cfg)
        self.opt_D = adam(setup.D_S.parameters(), setup.cfg) if self.adv_weight > 0 else None

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_G, **({"D": self.opt_D} if self.opt_D is not None else {})}

    def modules(self) -> dict[str, nn.Module]:
        return {}

    def step(self, stage: str, real: torch.Tensor, c: torch.Tensor | None, z: torch.Tensor) -> dict[str, float]:
        s = self.s
        terms: dict[str, float] = {}
        if self.opt_D is not None:
            with torch.no_grad(), s.recipe.mixing(s.G_S):
                fake = s.G_S(z, c)
            loss_D, terms_D = critic_loss(s, s.D_S, real, fake, c)
            terms.update(terms_D)
            terms["skipped_D"] = float(not optimizer_step(self.opt_D, loss_D))
        with s.recipe.mixing(s.G_S, teacher=s.G_T):  # G_T replays G_S's style mixing and noise
            image = s.G_S(z, c)
            with torch.no_grad():
                target = s.G_T(z, c)
        loss, sup_terms = self.sup(image, target)
        terms.update(sup_terms)
        if self.opt_D is not None:
            adv = adversarial_g_loss(s.D_S, real, image, c, s.loss_g, s.needs_real)
            pl_loss, pl_terms = s.recipe.path_length(s.G_S, z, c)  # lazy, StyleGAN2 Eq. 4 (StyleGAN2 teachers)
            loss = loss + self.adv_weight * adv + pl_loss
            terms["L_adv"] = float(adv.detach())
            terms.update(pl_terms)
        terms["loss_G"] = float(loss.detach())
        terms["skipped_G"] = float(not optimizer_step(self.opt_G, loss))
        return terms


__all__ = ["KDMethod"]
