"""SDAKD (Kaparinos & Mezaris, Sec. 3): a student discriminator, a supervised-only stage, MLP feature distillation.

Stage 2 (supervised only): G_S minimises L_sup + lambda1 * L_MLP (Eq. 1); D_S learns to reproduce D_T's
P_real = sigmoid(logit) on real and generated images by L2 (Eq. 2).
Stage 3: G_S minimises L_sup + lambda1 * L_MLP + lambda2 * L_adv against D_S (Eq. 3); D_S trains on the
adversarial loss only (Eq. 4), here the teacher's GAN loss (RpGAN + R1 + R2 for ganforge models).
Stage 1 (the teacher) is an ordinary `ganforge train` run.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
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
from ganforge.compress.mlp_distill import FeatureMLP, mlp_distill_loss

STAGE2_FAKES = ("student", "teacher", "both")


def probability_matching_loss(D_S: nn.Module, D_T: nn.Module, images: torch.Tensor,
                              c: torch.Tensor | None) -> torch.Tensor:
    """L_{D_S-stage2} = L2(P_real_S, P_real_T) with P_real = sigmoid(D(x)) (SDAKD Eq. 2); D_T is a fixed target."""
    with torch.no_grad():
        p_t = torch.sigmoid(D_T(images, c).float())
    return F.mse_loss(torch.sigmoid(D_S(images, c).float()), p_t)


class SDAKDMethod(DistillMethod):
    name = "sdakd"

    def __init__(self, setup: DistillSetup):
        super().__init__(setup)
        cfg = setup.cfg.sdakd
        if cfg.stage2_fakes not in STAGE2_FAKES:
            raise ValueError(f"sdakd.stage2_fakes must be one of {STAGE2_FAKES}, got {cfg.stage2_fakes!r}")
        self.cfg = cfg
        self.sup = SupervisedLoss(setup.cfg.sup).to(setup.device)
        # the MLP's input width is the student's (C x the teacher's), its output the teacher's (Sec. 3.2)
        self.mlp = FeatureMLP(setup.G_S.widths[-1], setup.G_T.widths[-1], cfg.mlp_hidden).to(setup.device)
        self.opt_G = adam([*setup.G_S.parameters(), *self.mlp.parameters()], setup.cfg)
        self.opt_D = adam(setup.D_S.parameters(), setup.cfg)

    def stages(self) -> list[tuple[str, float]]:
        half = self.s.cfg.kimg / 2
        n2 = half if self.cfg.stage2_kimg is None else self.cfg.stage2_kimg
        n3 = half if self.cfg.stage3_kimg is None else self.cfg.stage3_kimg
        return [("stage2", n2), ("stage3", n3)]

    def modules(self) -> dict[str, nn.Module]:
        return {"mlp": self.mlp}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_G, "D": self.opt_D}

    def generator_terms(self, z: torch.Tensor, c: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor,
                                                                                   dict[str, float]]:
        """(student image, L_sup + lambda1 * L_MLP, logged terms) for latents z."""
        s = self.s
        with torch.no_grad():
            target, feats_t = s.G_T(z, c, return_features=True)
        image, feats_s = s.G_S(z, c, return_features=True)
        sup, terms = self.sup(image, target)
        l_mlp = mlp_distill_loss(self.mlp, feats_s[-1], feats_t[-1])  # last backbone feature map
        terms["L_MLP"] = float(l_mlp.detach())
        return image, sup + self.cfg.lambda1 * l_mlp, terms

    def step(self, stage: str, real: torch.Tensor, c: torch.Tensor | None, z: torch.Tensor) -> dict[str, float]:
        s = self.s
        terms: dict[str, float] = {}
        s.D_S.requires_grad_(True)
        if stage == "stage2":
            with torch.no_grad():
                fakes = []
                if self.cfg.stage2_fakes in ("student", "both"):
                    fakes.append(s.G_S(z, c))
                if self.cfg.stage2_fakes in ("teacher", "both"):
                    fakes.append(s.G_T(z, c))
            images = torch.cat([real, *fakes])
            cc = None if c is None else c.repeat(1 + len(fakes))
            loss_D = probability_matching_loss(s.D_S, s.D_T, images, cc)
            terms["L_D_match"] = float(loss_D.detach())
        else:
            with torch.no_grad():
                fake = s.G_S(z, c)
            loss_D, terms_D = critic_loss(s, s.D_S, real, fake, c)
            terms.update(terms_D)
        terms["skipped_D"] = float(not optimizer_step(self.opt_D, loss_D))

        image, loss_G, g_terms = self.generator_terms(z, c)
        terms.update(g_terms)
        if stage == "stage3":
            adv = adversarial_g_loss(s.D_S, real, image, c, s.loss_g, s.needs_real)
            loss_G = loss_G + self.cfg.lambda2 * adv
            terms["L_adv"] = float(adv.detach())
        terms["loss_G"] = float(loss_G.detach())
        terms["skipped_G"] = float(not optimizer_step(self.opt_G, loss_G))
        return terms


__all__ = ["STAGE2_FAKES", "SDAKDMethod", "probability_matching_loss"]
