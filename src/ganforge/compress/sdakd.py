"""SDAKD (Kaparinos & Mezaris, Sec. 3): a student discriminator, a supervised-only stage, MLP feature distillation.

Stage 2 (supervised only): G_S minimises L_sup + lambda1 * L_MLP (Eq. 1); D_S learns to reproduce D_T on real and
generated images (Eq. 2). The paper matches P_real = sigmoid(logit) by L2; RpGAN logits have no fixed offset (the
loss and R1/R2 only see differences), so a teacher whose logits sit far from 0 saturates the sigmoid and D_S learns
nothing. By default (sdakd.d_match="centred") the L2 is between the logits, each centred on its own batch mean:
offset-free, and zero exactly when D_S ranks and spaces the batch as D_T does. Agreement is logged (D_match_corr,
D_match_sign).
Stage 3: G_S minimises L_sup + lambda1 * L_MLP + lambda2 * L_adv against D_S (Eq. 3); D_S trains on the
adversarial loss only (Eq. 4), here the teacher's GAN loss (RpGAN + R1 + R2 for R3GAN teachers; for StyleGAN2
teachers the teacher run's recipe, compress.student_recipe: lazy R1, style mixing, path length in stage 3).
Stage 1 (the teacher) is an ordinary `ganforge train` run.
"""

from __future__ import annotations

from typing import get_args

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
from ganforge.compress.config import DMatch, Stage2Fakes
from ganforge.compress.mlp_distill import FeatureMLP, mlp_distill_loss
from ganforge.compress.student import feature_widths
from ganforge.networks.adapters import StyleGANDiscriminator

STAGE2_FAKES: tuple[str, ...] = get_args(Stage2Fakes)
D_MATCHES: tuple[str, ...] = get_args(DMatch)


def logit_matching_loss(student: torch.Tensor, teacher: torch.Tensor, mode: str = "centred") -> torch.Tensor:
    """L_{D_S-stage2} (SDAKD Eq. 2) from the two critics' logits on the same images; the teacher's are a target.

    centred: mean_i ((s_i - mean s) - (t_i - mean t))^2, invariant to a constant added to either critic.
    sigmoid: mean_i (sigmoid(s_i) - sigmoid(t_i))^2, the paper's P_real form.
    """
    s, t = student.float().flatten(), teacher.detach().float().flatten()
    if mode == "centred":
        return F.mse_loss(s - s.mean(), t - t.mean())
    if mode == "sigmoid":
        return F.mse_loss(torch.sigmoid(s), torch.sigmoid(t))
    raise ValueError(f"unknown logit matching mode {mode!r}; choose one of {D_MATCHES}")


@torch.no_grad()
def logit_agreement(student: torch.Tensor, teacher: torch.Tensor) -> dict[str, float]:
    """How closely D_S tracks D_T on one batch, offset-free: the Pearson correlation of the logits (0 when either
    is constant) and the fraction of images on the same side of their own critic's batch mean."""
    s, t = student.double().flatten(), teacher.double().flatten()
    sc, tc = s - s.mean(), t - t.mean()
    norm = sc.norm() * tc.norm()
    corr = float((sc * tc).sum() / norm) if norm > 0 else 0.0
    return {"D_match_corr": corr, "D_match_sign": float((torch.sign(sc) == torch.sign(tc)).double().mean())}


def critic_logits(D: nn.Module, images: torch.Tensor, c: torch.Tensor | None, chunks: int = 1) -> torch.Tensor:
    """D's logits on `images`, one pass per chunk (StyleGAN's minibatch-std must not group reals with fakes)."""
    labels = [None] * chunks if c is None else c.chunk(chunks)
    return torch.cat([D(x, cc).float() for x, cc in zip(images.chunk(chunks), labels)])


def critic_matching(D_S: nn.Module, D_T: nn.Module, images: torch.Tensor, c: torch.Tensor | None,
                    mode: str = "centred", chunks: int = 1) -> tuple[torch.Tensor, dict[str, float]]:
    """Stage 2's D_S loss on `images` (D_T is a fixed target) and the agreement of the two critics on them."""
    with torch.no_grad():
        t = critic_logits(D_T, images, c, chunks)
    s = critic_logits(D_S, images, c, chunks)
    loss = logit_matching_loss(s, t, mode)
    return loss, {"L_D_match": float(loss.detach()), **logit_agreement(s.detach(), t)}


class SDAKDMethod(DistillMethod):
    name = "sdakd"

    def __init__(self, setup: DistillSetup):
        super().__init__(setup)
        cfg = setup.cfg.sdakd
        if cfg.stage2_fakes not in STAGE2_FAKES or cfg.d_match not in D_MATCHES:
            raise ValueError(f"sdakd.stage2_fakes must be one of {STAGE2_FAKES} and sdakd.d_match one of "
                             f"{D_MATCHES}, got {cfg.stage2_fakes!r} and {cfg.d_match!r}")
        self.cfg = cfg
        self.sup = SupervisedLoss(setup.cfg.sup).to(setup.device)
        # the MLP's input width is the student's (C x the teacher's), its output the teacher's (Sec. 3.2)
        self.mlp = FeatureMLP(feature_widths(setup.G_S)[-1][1], feature_widths(setup.G_T)[-1][1],
                              cfg.mlp_hidden).to(setup.device)
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
        with s.recipe.mixing(s.G_S, teacher=s.G_T):  # G_T replays G_S's style mixing and noise
            image, feats_s = s.G_S(z, c, return_features=True)
            with torch.no_grad():
                target, feats_t = s.G_T(z, c, return_features=True)
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
                    with s.recipe.mixing(s.G_S):
                        fakes.append(s.G_S(z, c))
                if self.cfg.stage2_fakes in ("teacher", "both"):
                    fakes.append(s.G_T(z, c))
            images = torch.cat([real, *fakes])
            cc = None if c is None else c.repeat(1 + len(fakes))
            chunks = 1 + len(fakes) if isinstance(s.D_S, StyleGANDiscriminator) else 1  # reals, fakes apart
            loss_D, match_terms = critic_matching(s.D_S, s.D_T, images, cc, self.cfg.d_match, chunks)
            terms.update(match_terms)
        else:
            with torch.no_grad(), s.recipe.mixing(s.G_S):
                fake = s.G_S(z, c)
            loss_D, terms_D = critic_loss(s, s.D_S, real, fake, c)
            terms.update(terms_D)
        terms["skipped_D"] = float(not optimizer_step(self.opt_D, loss_D))

        image, loss_G, g_terms = self.generator_terms(z, c)
        terms.update(g_terms)
        if stage == "stage3":
            adv = adversarial_g_loss(s.D_S, real, image, c, s.loss_g, s.needs_real)
            pl_loss, pl_terms = s.recipe.path_length(s.G_S, z, c)  # lazy, StyleGAN2 Eq. 4 (StyleGAN2 teachers)
            loss_G = loss_G + self.cfg.lambda2 * adv + pl_loss
            terms["L_adv"] = float(adv.detach())
            terms.update(pl_terms)
        terms["loss_G"] = float(loss_G.detach())
        terms["skipped_G"] = float(not optimizer_step(self.opt_G, loss_G))
        return terms


__all__ = ["D_MATCHES", "STAGE2_FAKES", "SDAKDMethod", "critic_matching", "logit_agreement", "logit_matching_loss"]
