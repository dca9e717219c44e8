"""Adversarial losses: RpGAN (R3GAN Eq. 2), and the classic non-saturating and hinge losses for ablations (Table 4)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# RpGAN with f(t) = -log(1 + e^-t) (R3GAN Eq. 2): the players minimise softplus of the paired logit difference.
def rpgan_d(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return F.softplus(fake_logits - real_logits)


def rpgan_g(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return F.softplus(real_logits - fake_logits)


# Non-saturating GAN (Goodfellow et al.; R3GAN Eq. 1 with f = -softplus(-t)).
def nsgan_d(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return F.softplus(-real_logits) + F.softplus(fake_logits)


def nsgan_g(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return F.softplus(-fake_logits)


def hinge_d(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - real_logits) + F.relu(1.0 + fake_logits)


def hinge_g(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return -fake_logits


LOSSES: dict[str, tuple[Loss, Loss]] = {
    "rpgan": (rpgan_d, rpgan_g),
    "nsgan": (nsgan_d, nsgan_g),
    "hinge": (hinge_d, hinge_g),
}


def get_loss(name: str) -> tuple[Loss, Loss]:
    """(D loss, G loss), each per-sample: call with paired real and fake logits of equal batch size."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss '{name}'; choose one of {', '.join(LOSSES)}")
    return LOSSES[name]
