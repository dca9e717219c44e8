"""One discriminator step and one generator step, written to read like R3GAN Sec. 2 and SD-GAN Eq. 2."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
from torch import nn

from ganforge.losses import gradient_penalty
from ganforge.losses.adversarial import Loss

Augment = Callable[[torch.Tensor], torch.Tensor]
SelfDistillTerm = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]  # -> (weighted, logged)
AuxTerm = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, dict[str, float]]]  # (real, fake) -> weighted


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def paired_penalties(logits: torch.Tensor, x: torch.Tensor, r1: bool, r2: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(R1, R2) batch means for x = cat([real, fake]) and its logits, from one autograd.grad call (R3GAN Eq. 3-4).

    Masking the logits keeps one backward for both penalties; a disabled side contributes exactly zero.
    """
    n = logits.shape[0] // 2  # real.shape[0] / net.pack: a PacGAN D gives one logit per pack
    mask = torch.cat([torch.full((n,), float(r1)), torch.full((n,), float(r2))]).to(logits.device)
    mask = mask.view(-1, *[1] * (logits.ndim - 1))  # patch logits [N, K] (projected D) share their image's mask
    penalty = gradient_penalty(logits * mask, x).view(2 * n, -1).sum(1)  # a pack's input: its samples' grads
    return penalty[:n].mean(), penalty[n:].mean()


def _add_aux(loss: torch.Tensor, terms: dict[str, float], aux: AuxTerm | None, real: torch.Tensor,
             fake: torch.Tensor) -> torch.Tensor:
    """loss + the weighted vision-aided terms (ganforge.training.aux_discriminators), logging theirs."""
    if aux is None:
        return loss
    extra, aux_terms = aux(real, fake)
    terms.update(aux_terms)
    return loss + extra


@contextlib.contextmanager
def full_precision(*modules: nn.Module):
    """Temporarily run modules in FP32 (used for the D step that carries the R1/R2 penalties)."""
    saved = [m.low_precision for m in modules]
    for m in modules:
        m.low_precision = None
    try:
        yield
    finally:
        for m, s in zip(modules, saved):
            m.low_precision = s


def joint_pass_ok(D: nn.Module, half_batch: int) -> bool:
    """Whether reals and fakes may share one D pass: an R3GAN D with minibatch-std says whether its groups stay
    within each half (networks.discriminator); other Ds have no such groups."""
    check = getattr(D, "joint_pass_keeps_halves_apart", None)
    return check is None or bool(check(half_batch))


def discriminator_loss(D: nn.Module, real: torch.Tensor, fake: torch.Tensor, c: torch.Tensor | None,
                       loss_d: Loss, gamma: float, r1: bool, r2: bool,
                       augment: Augment = _identity, aux: AuxTerm | None = None, joint: bool = True
                       ) -> tuple[torch.Tensor, dict[str, float], torch.Tensor, torch.Tensor]:
    """L_D = E[f-loss(D(x_real), D(x_fake))] + gamma/2 (E||grad D(real)||^2 + E||grad D(fake)||^2) (R3GAN Eq. 2-4).

    Reals and fakes go through D as one batch (joint=False: one pass each, for a D whose minibatch-std would group
    reals with fakes); both penalties come from one autograd.grad call, in FP32; a disabled one is exactly 0.
    Returns the loss, logged terms, and the detached real and fake logits (for ADA's r_t).
    """
    x = torch.cat([real, fake.detach()]).requires_grad_(r1 or r2)
    if joint:
        logits = D(augment(x), None if c is None else torch.cat([c, c])).float()
    else:
        logits = torch.cat([D(augment(half), c) for half in x.chunk(2)]).float()
    n = logits.shape[0] // 2  # real.shape[0] / net.pack: a PacGAN D gives one logit per pack
    real_logits, fake_logits = logits[:n], logits[n:]
    adv = loss_d(real_logits, fake_logits).mean()
    terms = {"loss_D": float(adv.detach()), "D_real": float(real_logits.detach().mean()),
             "D_fake": float(fake_logits.detach().mean())}
    loss = adv
    if r1 or r2:
        r1_val, r2_val = paired_penalties(logits, x, r1, r2)
        loss = loss + gamma / 2 * (r1_val + r2_val)
        terms.update({"R1": float(r1_val.detach()), "R2": float(r2_val.detach())})
    loss = _add_aux(loss, terms, aux, real, fake.detach())
    return loss, terms, real_logits.detach(), fake_logits.detach()


def generator_loss(G: nn.Module, D: nn.Module, real: torch.Tensor, z: torch.Tensor, c: torch.Tensor | None,
                   loss_g: Loss, augment: Augment = _identity,
                   self_distill: SelfDistillTerm | None = None,
                   G_ema: nn.Module | None = None, needs_real: bool = True,
                   aux: AuxTerm | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """L_G = E[f-loss(D(x_real), D(G(z)))] + alpha * L_SD(T(G(z)), T(G_ema(z))) (R3GAN Eq. 2; SD-GAN Eq. 2)."""
    fake = G(z, c)
    real_logits = None
    if needs_real:
        with torch.no_grad():
            real_logits = D(augment(real), c).float()
    fake_logits = D(augment(fake), c).float()
    if real_logits is None:
        real_logits = torch.zeros_like(fake_logits)
    adv = loss_g(real_logits, fake_logits).mean()
    terms = {"loss_G": float(adv.detach())}
    loss = _add_aux(adv, terms, aux, real, fake)
    if self_distill is not None and G_ema is not None:
        with torch.no_grad():
            teacher = G_ema(z, c)
        weighted, value = self_distill(fake, teacher)  # logged even when alpha = 0 (SD-GAN Sec. 4)
        terms["L_SD"] = float(value)
        loss = loss + weighted
    return loss, terms
