"""Pieces every distillation method shares: the supervised student-vs-teacher loss, the student's adversarial
term, the teacher run's recipe for it (compress.student_recipe), Adam in R3GAN's setting, and an optimiser step
that refuses non-finite losses."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ganforge.compress.config import CompressConfig, SupConfig
from ganforge.compress.student_recipe import StudentRecipe
from ganforge.losses.adversarial import Loss
from ganforge.networks.adapters import StyleGANDiscriminator
from ganforge.training.steps import discriminator_loss, joint_pass_ok


class SupervisedLoss(nn.Module):
    """L_sup(G_S(z), G_T(z)) = l1 * mean|x_S - x_T| + lpips * mean LPIPS(x_S, x_T) (SDAKD Eq. 1; CAGC's KD loss).

    The teacher image is a target: it is detached and its LPIPS half runs without autograd.
    """

    def __init__(self, cfg: SupConfig):
        super().__init__()
        self.cfg = cfg
        self.lpips = None
        if cfg.lpips > 0:
            from ganforge.perceptual import LPIPS

            self.lpips = LPIPS(cfg.lpips_net, cfg.lpips_weights)

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        teacher = teacher.detach()
        terms: dict[str, float] = {}
        loss = student.new_zeros(())
        if self.cfg.l1 > 0:
            l1 = (student - teacher).abs().mean()
            loss = loss + self.cfg.l1 * l1
            terms["L1"] = float(l1.detach())
        if self.lpips is not None:
            with torch.no_grad():
                taps_t = self.lpips.taps(teacher)
            lp = self.lpips.distance_from_taps(self.lpips.taps(student), taps_t).mean()
            loss = loss + self.cfg.lpips * lp
            terms["LPIPS"] = float(lp.detach())
        terms["L_sup"] = float(loss.detach())
        return loss, terms


def adversarial_g_loss(D: nn.Module, real: torch.Tensor, fake: torch.Tensor, c: torch.Tensor | None,
                       loss_g: Loss, needs_real: bool = True) -> torch.Tensor:
    """The generator's side of the GAN loss against critic D (R3GAN Eq. 2 for RpGAN); D's weights get no grad."""
    D.requires_grad_(False)
    if needs_real:
        with torch.no_grad():
            real_logits = D(real, c).float()
    else:
        real_logits = torch.zeros(real.shape[0], device=real.device)
    return loss_g(real_logits, D(fake, c).float()).mean()


def adam(params: Iterable[nn.Parameter], cfg: CompressConfig) -> torch.optim.Adam:
    return torch.optim.Adam(list(params), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=1e-8)


def optimizer_step(opt: torch.optim.Optimizer, loss: torch.Tensor) -> bool:
    """zero_grad, backward, step; a non-finite loss or gradient skips the update and returns False."""
    opt.zero_grad(set_to_none=True)
    if not torch.isfinite(loss):
        return False
    loss.backward()
    for group in opt.param_groups:
        for p in group["params"]:
            if p.grad is not None and not torch.isfinite(p.grad).all():
                opt.zero_grad(set_to_none=True)
                return False
    opt.step()
    return True


@dataclass
class DistillSetup:
    """Everything a method needs: config, teacher and student networks, the GAN loss and its penalties, and the
    teacher run's StyleGAN2 recipe for the student (inert for R3GAN teachers)."""

    cfg: CompressConfig
    G_T: nn.Module
    D_T: nn.Module
    G_S: nn.Module
    D_S: nn.Module
    loss_name: str
    loss_d: Loss
    loss_g: Loss
    gamma: float
    r1: bool
    r2: bool
    device: torch.device
    run_dir: Path
    recipe: StudentRecipe = field(default_factory=StudentRecipe)

    @property
    def needs_real(self) -> bool:
        """Relativistic losses pair fakes with reals in the generator step too."""
        return self.loss_name == "rpgan"


def critic_loss(setup: DistillSetup, D: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                c: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, float]]:
    """The teacher's GAN loss for critic D with its R1/R2 penalties (training.steps.discriminator_loss), lazy as in
    the teacher's recipe (setup.recipe); a StyleGAN D sees reals and fakes in separate passes, as in its training,
    so minibatch-std never groups them together."""
    D.requires_grad_(True)
    gamma, r1, r2 = setup.recipe.penalties(setup.gamma, setup.r1, setup.r2)
    out = discriminator_loss(D, real, fake, c, setup.loss_d, gamma, r1, r2,
                             joint=not isinstance(D, StyleGANDiscriminator) and joint_pass_ok(D, real.shape[0]))
    return out[0], setup.recipe.penalty_terms(D, out[1])


class DistillMethod:
    """One compression method: its stages, extra trainable modules, optimisers and one training step."""

    name = "method"

    def __init__(self, setup: DistillSetup):
        self.s = setup

    def stages(self) -> list[tuple[str, float]]:
        """(stage name, kimg) in order."""
        return [(self.name, self.s.cfg.kimg)]

    def modules(self) -> dict[str, nn.Module]:
        """Trainable modules besides G_S and D_S, saved in every checkpoint."""
        return {}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def step(self, stage: str, real: torch.Tensor, c: torch.Tensor | None, z: torch.Tensor) -> dict[str, float]:
        raise NotImplementedError


__all__ = ["DistillMethod", "DistillSetup", "SupervisedLoss", "adam", "adversarial_g_loss", "critic_loss",
           "optimizer_step"]
