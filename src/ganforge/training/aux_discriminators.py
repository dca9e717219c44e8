"""Pretrained-backbone discriminators in training: the projected main D and the vision-aided Ds of cfg.d_aux.

The trainer calls four things: `main_discriminator` (d_arch), `AuxDiscriminators.build` (heads, optimiser group),
`d_term` / `g_term` (loss callables for ganforge.training.steps, None while every entry is still warming up) and
`checkpoint_modules` (the heads' weights next to G and D). The heads share the D optimiser as an extra parameter
group, so they follow D's learning-rate and beta2 schedules and are saved and restored with it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ganforge.losses import get_loss
from ganforge.networks.pretrained_config import AuxDConfig
from ganforge.networks.pretrained_d import ProjectedDiscriminator, VisionAidedDiscriminator
from ganforge.training.config import TrainConfig
from ganforge.training.steps import AuxTerm, paired_penalties

__all__ = ["AuxDiscriminators", "main_discriminator"]


def main_discriminator(cfg: TrainConfig, D: nn.Module) -> nn.Module:
    """R3GAN's D as built, or a projected D (Sauer et al. 2021) in its place when cfg.d_arch == "projected"."""
    return ProjectedDiscriminator(cfg.projected, cfg.net) if cfg.d_arch == "projected" else D


class AuxDiscriminators(nn.Module):
    """The vision-aided Ds of a run (Kumari et al. 2022): loss terms for the D and G steps, gated by warm-up."""

    def __init__(self, entries: list[AuxDConfig], img_channels: int, resolution: int) -> None:
        super().__init__()
        self.entries = list(entries)
        self.ds = nn.ModuleList(VisionAidedDiscriminator(e, img_channels, resolution) for e in self.entries)
        self.losses = [get_loss(e.loss) for e in self.entries]

    @classmethod
    def build(cls, cfg: TrainConfig, device: torch.device, opt_D: torch.optim.Optimizer) -> AuxDiscriminators:
        """The run's vision-aided Ds on `device`, their heads added to the D optimiser (D's settings)."""
        aux = cls(cfg.d_aux, cfg.net.img_channels, cfg.net.resolution).to(device)
        params = [p for p in aux.parameters() if p.requires_grad]
        if params:
            opt_D.add_param_group({"params": params})
        return aux

    def active(self, cur_nimg: int) -> list[int]:
        """Indices of the entries whose warm-up is over (cur_nimg >= warmup_kimg * 1000)."""
        return [i for i, e in enumerate(self.entries) if cur_nimg >= e.warmup_kimg * 1000]

    def checkpoint_modules(self) -> dict[str, nn.Module]:
        """{"D_aux": self} when the run has vision-aided Ds, else nothing (checkpoints stay as before)."""
        return {"D_aux": self} if self.entries else {}

    def d_term(self, cur_nimg: int, gamma: float = 0.0, regularise: bool = False) -> AuxTerm | None:
        """(real, fake) -> (sum of weight * L_D_aux [+ R1/R2 of the entries asking for them], logged terms)."""
        return self._gated(cur_nimg, lambda i, real, fake: self._d_loss(i, real, fake, gamma, regularise), True)

    def g_term(self, cur_nimg: int) -> AuxTerm | None:
        """(real, fake) -> (sum of weight * L_G_aux, logged terms); the heads are frozen for the G step."""
        return self._gated(cur_nimg, self._g_loss, False)

    def _gated(self, cur_nimg: int, one: Callable[[int, torch.Tensor, torch.Tensor], tuple[torch.Tensor, dict]],
               train_heads: bool) -> AuxTerm | None:
        """The weighted sum of `one` over the entries past their warm-up; None while all are warming up."""
        active = self.active(cur_nimg)
        if not active:
            return None

        def term(real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
            self.ds.requires_grad_(train_heads)
            total, logged = fake.new_zeros(()), {}
            for i in active:
                loss, terms = one(i, real, fake)
                logged.update(terms)
                total = total + self.entries[i].weight * loss
            return total, logged

        return term

    def _d_loss(self, i: int, real: torch.Tensor, fake: torch.Tensor, gamma: float,
                regularise: bool) -> tuple[torch.Tensor, dict[str, float]]:
        """Entry i's D loss on reals and fakes in one batch, with its R1/R2 when asked and on a regularised step."""
        e, D, (loss_d, _) = self.entries[i], self.ds[i], self.losses[i]
        r1, r2 = e.r1 and regularise, e.r2 and regularise
        x = torch.cat([real, fake]).detach().requires_grad_(r1 or r2)
        logits = D(x, fp32=r1 or r2)  # the double backward of a penalty in FP32, as the main D's (penalty_fp32)
        n = real.shape[0]
        loss = loss_d(logits[:n], logits[n:]).mean()
        logged = {f"loss_D_aux{i}": float(loss.detach())}
        if r1 or r2:
            r1_val, r2_val = paired_penalties(logits, x, r1, r2)
            loss = loss + gamma / 2 * (r1_val + r2_val)
            logged.update({f"R1_aux{i}": float(r1_val.detach()), f"R2_aux{i}": float(r2_val.detach())})
        return loss, logged

    def _g_loss(self, i: int, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Entry i's G loss; the relativistic loss also needs the reals' logits (no gradient)."""
        e, D, (_, loss_g) = self.entries[i], self.ds[i], self.losses[i]
        fake_logits = D(fake)
        if e.loss == "rpgan":
            with torch.no_grad():
                real_logits = D(real)
        else:
            real_logits = torch.zeros_like(fake_logits)
        loss = loss_g(real_logits, fake_logits).mean()
        return loss, {f"loss_G_aux{i}": float(loss.detach())}
