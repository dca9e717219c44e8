"""NICKEL & DiME (Yeo, Jang & Yoo, Sec. 3).

DiME (Eq. 1): distillation through frozen embedding networks phi. `paired` (Eq. 1 as written): the L1 norm,
summed over the embedding dimensions and averaged over the batch, of phi(G_T(z)) - phi(G_S(z)) for the same z.
`global-moments-ext` (a ganforge extension; Sec. 4.5 describes the teacher's "global features" in words only):
the same summed L1 between the batch mean / second moment of phi(G_S(z)) and the teacher's mean / second moment
precomputed over many samples. Both sum over dimensions, so lambda_dino = 20 and lambda_clip = 15 weigh the
losses on the paper's scale whatever the embedding width.
NICKEL (Eq. 2): feature maps of G_T at 1/4 of the output resolution are matched to the student discriminator's
feature maps of the same resolution, computed on G_T's images and mapped to G_T's width by a learned 1x1
projection f_i, with the Haar wavelet loss on the LH, HL and HH bands. It trains D_S (and f_i) only. A PacGAN D_S
(net.pack = k, a ganforge extension the paper's D does not have) sees k consecutive images as one input, so each
of its feature maps is matched to those k images' G_T feature maps concatenated along channels (f_i maps to k
times G_T's width).
Training objective (Eq. 3): L = L_adv(D_T, D_S) + sum_e lambda_e L_e + lambda_NICKEL L_NICKEL. For StyleGAN2
teachers (the paper's Sec. 4 setting: StyleGAN2's training setup) L_adv and the critics use the teacher run's
recipe (compress.student_recipe): its loss, lazy R1, style mixing (G_T replaying it), lazy path length on G_S.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ganforge.compress.common import (
    DistillMethod,
    DistillSetup,
    adam,
    adversarial_g_loss,
    critic_loss,
    optimizer_step,
)
from ganforge.compress.config import DIME_MODES
from ganforge.compress.embeddings import Embedder, build_embedder
from ganforge.compress.student import feature_widths
from ganforge.compress.teacher_stats import STATS_FILE, teacher_stats_for
from ganforge.compress.wavelet import wavelet_loss


def dime_paired_loss(phi: Embedder, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """E_z ||phi(G_T(z)) - phi(G_S(z))||_1 (NICKEL & DiME Eq. 1): summed over dimensions, mean over the batch."""
    with torch.no_grad():
        target = phi(teacher.detach())
    return (phi(student) - target).abs().sum(dim=1).mean()


def dime_global_loss(phi: Embedder, student: torch.Tensor, stats: dict[str, torch.Tensor]) -> torch.Tensor:
    """||E_batch phi(G_S(z)) - mu_T||_1 + ||E_batch phi(G_S(z))^2 - m2_T||_1 against the teacher's precomputed
    moments (a ganforge reading of NICKEL & DiME Sec. 4.5; summed over dimensions like Eq. 1)."""
    f = phi(student).float()
    mean, m2 = stats["mean"].to(f.device, f.dtype), stats["m2"].to(f.device, f.dtype)
    return (f.mean(0) - mean).abs().sum() + (f.square().mean(0) - m2).abs().sum()


def parse_embeddings(items: list[str]) -> list[tuple[str, float]]:
    """['dino:20', 'clip:15'] -> [('dino', 20.0), ('clip', 15.0)]; a bare name gets weight 1."""
    out = []
    for item in items:
        name, sep, weight = item.partition(":")
        out.append((name.strip(), float(weight) if sep else 1.0))
    return out


class NickelProjector(nn.Module):
    """f_i: 1x1 convs from the student D's feature maps to the teacher G's width (times D's pack), one per matched
    resolution."""

    def __init__(self, G_T: nn.Module, D_S: nn.Module, resolutions: list[int]):
        super().__init__()
        self.pack = int(getattr(D_S, "pack", 1))
        g_feats, d_feats = feature_widths(G_T), feature_widths(D_S)  # [(resolution, channels)] per feature map
        g_res, d_res = [r for r, _ in g_feats], [r for r, _ in d_feats]
        self.g_index, self.d_index, projs = [], [], []
        for r in resolutions:
            if r not in g_res or r not in d_res:
                shared = sorted(set(g_res) & set(d_res), reverse=True)
                raise ValueError(f"NICKEL resolution {r} is not a feature resolution shared by G and D "
                                 f"({', '.join(map(str, shared))})")
            gi, dj = g_res.index(r), d_res.index(r)
            self.g_index.append(gi)
            self.d_index.append(dj)
            projs.append(nn.Conv2d(d_feats[dj][1], g_feats[gi][1] * self.pack, 1, bias=False))  # a bias only moves LL
        self.projs = nn.ModuleList(projs)

    def loss(self, d_feats: list[torch.Tensor], g_feats: list[torch.Tensor], levels: int = 3) -> torch.Tensor:
        """L_NICKEL = sum_i wavelet(G_T_i(z), f_i(D_S_i(G_T(z)))) over LH, HL, HH (Eq. 2)."""
        total = None
        for proj, gi, dj in zip(self.projs, self.g_index, self.d_index):
            g = g_feats[gi].detach().float()
            n, ch, h, w = g.shape
            g = g.reshape(n // self.pack, self.pack * ch, h, w)  # a pack's images side by side, as D_S packs them
            term = wavelet_loss(proj(d_feats[dj].float()), g, levels)
            total = term if total is None else total + term
        assert total is not None
        return total


def nickel_loss(D_S: nn.Module, projector: NickelProjector, teacher_images: torch.Tensor,
                teacher_feats: list[torch.Tensor], c: torch.Tensor | None, levels: int = 3) -> torch.Tensor:
    """D_S's feature maps on G_T's images, projected and matched to G_T's own feature maps."""
    _, d_feats = D_S(teacher_images.detach(), c, return_features=True)
    return projector.loss(d_feats, teacher_feats, levels)


class NickelDimeMethod(DistillMethod):
    name = "nickel-dime"

    def __init__(self, setup: DistillSetup):
        super().__init__(setup)
        cfg = self.cfg = setup.cfg.nickel
        if cfg.dime_mode not in DIME_MODES:
            raise ValueError(f"nickel.dime_mode must be one of {DIME_MODES}, got {cfg.dime_mode!r}")
        self.embedders: dict[str, Embedder] = {}
        self.weights: dict[str, float] = {}
        for name, weight in parse_embeddings(cfg.embeddings):
            path = {"dino": cfg.dino_weights, "clip": cfg.clip_weights}.get(name)
            self.embedders[name] = build_embedder(name, path, cfg.embed_size).to(setup.device)
            self.weights[name] = weight
        self.stats = {}
        self.stats_reused = False
        if self.embedders and cfg.dime_mode == "global-moments-ext":
            path = Path(cfg.teacher_stats) if cfg.teacher_stats else setup.run_dir / STATS_FILE
            self.stats, self.stats_reused = teacher_stats_for(setup.G_T, self.embedders, path, cfg.stats_num,
                                                              cfg.stats_batch_size, setup.cfg.seed, setup.device)
        resolutions = cfg.nickel_resolutions or [setup.G_T.resolution // 4]
        self.projector = NickelProjector(setup.G_T, setup.D_S, resolutions).to(setup.device)
        self.opt_G = adam(setup.G_S.parameters(), setup.cfg)
        self.opt_D = adam([*setup.D_S.parameters(), *self.projector.parameters()], setup.cfg)
        self.opt_DT = adam(setup.D_T.parameters(), setup.cfg) if cfg.train_teacher_d else None

    def modules(self) -> dict[str, nn.Module]:
        return {"nickel_proj": self.projector, **({"D_T": self.s.D_T} if self.opt_DT is not None else {})}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_G, "D": self.opt_D, **({"D_T": self.opt_DT} if self.opt_DT is not None else {})}

    def dime(self, image: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """sum_e lambda_e L_e over the embedders (Eq. 3)."""
        total, terms = image.new_zeros(()), {}
        for name, phi in self.embedders.items():
            if self.cfg.dime_mode == "paired":
                term = dime_paired_loss(phi, image, target)
            else:
                term = dime_global_loss(phi, image, self.stats[name])
            terms[f"L_{name}"] = float(term.detach())
            total = total + self.weights[name] * term
        return total, terms

    def step(self, stage: str, real: torch.Tensor, c: torch.Tensor | None, z: torch.Tensor) -> dict[str, float]:
        s, cfg = self.s, self.cfg
        with torch.no_grad(), s.recipe.mixing(s.G_S, teacher=s.G_T):  # G_T replays G_S's style mixing and noise
            fake = s.G_S(z, c)
            target, feats_t = s.G_T(z, c, return_features=True)
        loss_D, terms_D = critic_loss(s, s.D_S, real, fake, c)
        terms = {f"{k}_S": v for k, v in terms_D.items()}
        l_nickel = nickel_loss(s.D_S, self.projector, target, feats_t, c, cfg.wavelet_levels)
        terms["L_NICKEL"] = float(l_nickel.detach())
        terms["skipped_D"] = float(not optimizer_step(self.opt_D, loss_D + cfg.lambda_nickel * l_nickel))
        if self.opt_DT is not None:  # the teacher critic keeps training against the student (authors' code)
            loss_DT, terms_DT = critic_loss(s, s.D_T, real, fake, c)
            terms.update({f"{k}_T": v for k, v in terms_DT.items()})
            terms["skipped_DT"] = float(not optimizer_step(self.opt_DT, loss_DT))

        with s.recipe.mixing(s.G_S, teacher=s.G_T):
            image = s.G_S(z, c)
            if s.recipe.active and cfg.dime_mode == "paired" and self.embedders:
                with torch.no_grad():  # Eq. 1's pair: G_T(z) under this pass's mixing and noise
                    target = s.G_T(z, c)
        loss_G, dime_terms = self.dime(image, target)
        terms.update(dime_terms)
        for key, critic, weight in (("L_adv_S", s.D_S, cfg.adv_student_weight),
                                    ("L_adv_T", s.D_T, cfg.adv_teacher_weight)):
            if weight:
                adv = adversarial_g_loss(critic, real, image, c, s.loss_g, s.needs_real)
                loss_G = loss_G + weight * adv
                terms[key] = float(adv.detach())
        pl_loss, pl_terms = s.recipe.path_length(s.G_S, z, c)  # lazy, StyleGAN2 Eq. 4 (StyleGAN2 teachers)
        loss_G = loss_G + pl_loss
        terms.update(pl_terms)
        terms["loss_G"] = float(loss_G.detach())
        terms["skipped_G"] = float(not optimizer_step(self.opt_G, loss_G))
        return terms


__all__ = ["DIME_MODES", "NickelDimeMethod", "NickelProjector", "dime_global_loss", "dime_paired_loss",
           "nickel_loss", "parse_embeddings"]
