"""The super-resolution piece of the training loop (`task=sr`, Real-ESRGAN's recipe): it supplies the networks, the
(LR, HR) batches, the generator and discriminator losses, the sample grid, the PSNR / SSIM / LPIPS evaluation, the
exported generator, the start of the GAN stage from the ESRNet run and the resume check of its network settings.
With sr.distill (`ganforge compress` on an SR teacher) a ganforge.compress.sr_distill.SRDistiller adds the teacher's
terms, SDAKD's stages and the feature MLP (`g_modules`). The loop itself stays ganforge.training.trainer's.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.data.degradation import DegradationConfig, usm_sharpen
from ganforge.data.sr_pairs import HRImages, SRPairSampler, load_hr_images
from ganforge.errors import UserError
from ganforge.losses import get_loss
from ganforge.losses.sr import PerceptualLoss, build_perceptual
from ganforge.networks.sr import SRDiscConfig, SRNetConfig, build_sr_discriminator, build_sr_generator, save_sr
from ganforge.training import checkpoint as ckpt
from ganforge.training.config import TrainConfig
from ganforge.training.steps import discriminator_loss
from ganforge.utils.grid import save_grid

EVAL_BATCH = 8
GRID_PAIRS = 8
AUTO_LPIPS = "vgg16"  # the network sr.eval_lpips_net=auto uses when its weights are installed
PIXEL_METRICS = ("psnr", "ssim")  # sr_scores' part of sr_config.SR_METRICS (fid_crops is SRTask.evaluate's)


def quantize(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] images rounded to 8-bit levels, as SR results are saved and scored."""
    return x.clamp(0, 1).mul(255).round().div(255)


def bicubic_upscale(lr: torch.Tensor, scale: int) -> torch.Tensor:
    """Bicubic upsampling rounded to 8-bit levels: the floor an SR network is scored against."""
    return quantize(F.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False))


@torch.no_grad()
def upscale_in_chunks(G: nn.Module, lr: torch.Tensor, device: torch.device) -> torch.Tensor:
    """G on a CPU batch in chunks on `device`, back on the CPU, rounded to 8-bit levels as saved images are."""
    return torch.cat([quantize(G(lr[i:i + EVAL_BATCH].to(device))).cpu() for i in range(0, len(lr), EVAL_BATCH)])


def lpips_weights_note(net: str) -> str | None:
    """None when the backbone weights of LPIPS `net` are found offline; else one line naming the missing file and how
    to get it (docs/weights.md)."""
    from ganforge.perceptual.weights import WeightsNotFoundError, backbone_spec, find_backbone_weights, weights_dir

    try:
        find_backbone_weights(net)
    except WeightsNotFoundError:
        return (f"the {net} LPIPS backbone weights file {weights_dir() / backbone_spec(net).cache_file} is missing; "
                "`python -m ganforge.perceptual.setup_weights` installs it offline (docs/weights.md)")
    return None


def require_lpips_weights(key: str, net: str) -> None:
    """Before training: a UserError naming the fix when `key` names an LPIPS network whose weights are missing."""
    note = lpips_weights_note(net) if net in ("vgg16", "alexnet") else None
    if note is not None:
        raise UserError(f"{key}={net} asks for LPIPS in the SR evaluation, but {note}; or set {key}=auto (LPIPS "
                        f"only when its weights are installed) or {key}=none")


def resolve_lpips_net(net: str) -> tuple[str, str | None]:
    """sr.eval_lpips_net as run: "auto" is VGG16 when its weights are installed, else "none" with the reason."""
    if net != "auto":
        return net, None
    note = lpips_weights_note(AUTO_LPIPS)
    return ("none", note) if note is not None else (AUTO_LPIPS, None)


def build_lpips(net: str) -> nn.Module | None:
    """The LPIPS network of the SR evaluations (offline weights, ganforge.perceptual, EvalLPIPS): None for "none",
    and for "auto" when VGG16's weights are missing (said in one line on stderr); OSError when a named network's
    weights are missing (runs check those before training: require_lpips_weights)."""
    net, note = resolve_lpips_net(net)
    if note is not None:
        print(f"ganforge: LPIPS is left out of the SR evaluation: {note}", file=sys.stderr)
    if net == "none":
        return None
    from ganforge.perceptual import LPIPS

    return LPIPS(net)


@torch.no_grad()
def sr_scores(sr: torch.Tensor, hr: torch.Tensor, scale: int, device: torch.device, lpips: nn.Module | None = None,
              metrics: Sequence[str] = PIXEL_METRICS) -> dict[str, float]:
    """Mean PSNR / SSIM (Y channel, `scale` border pixels cropped) of 8-bit outputs against the HR crops and, given an
    LPIPS network, their mean LPIPS on the whole crops (run on `device` in chunks)."""
    from ganforge.metrics.sr import psnr, ssim

    fns = {"psnr": psnr, "ssim": ssim}
    out = {m: float(fns[m](sr, hr, crop_border=scale).mean()) for m in metrics}
    if lpips is not None:
        lpips = lpips.to(device)
        dist = [lpips(sr[i:i + EVAL_BATCH].to(device) * 2 - 1, hr[i:i + EVAL_BATCH].to(device) * 2 - 1).cpu()
                for i in range(0, len(sr), EVAL_BATCH)]
        out["lpips"] = float(torch.cat(dist).mean())
    return out


def net_diff(own: SRNetConfig | SRDiscConfig, saved: dict | None) -> dict[str, tuple]:
    """{key: (saved, own)} where a saved network config (keys it lacks take their defaults) differs from `own`."""
    theirs = {**dataclasses.asdict(type(own)()), **(saved or {})}
    return {k: (theirs.get(k), v) for k, v in dataclasses.asdict(own).items() if theirs.get(k) != v}


def require_fid_extractors(names: set[str], weights: dict[str, str | None], size: int | None) -> None:
    """Before training: a UserError naming the fix when an extractor metrics=[fid_crops] needs cannot be built
    (e.g. the Inception weights are not installed)."""
    from ganforge.metrics.features.registry import available_extractors, build_extractor, digits_only

    if digits_only(names):
        raise UserError(f"fid_crops: {digits_only(names)}")
    for name in sorted(names):
        if name not in available_extractors():
            raise UserError(f"fid_crops: no feature extractor '{name}'; registered: "
                            f"{', '.join(available_extractors())}")
        try:
            build_extractor(name, weights=weights.get(name), size=size)
        except (OSError, ImportError, ValueError, RuntimeError) as e:
            raise UserError(f"metrics=[fid_crops] needs the {name} feature extractor: "
                            f"{str(e).splitlines()[0].rstrip('.')} (docs/metrics.md, Feature extractors); or use "
                            "fid_crops@vgg16, offline") from None


class SRTask:
    """Real-ESRGAN's training pieces for one run; `perceptual` replaces the VGG loss (tests pass small networks)."""

    def __init__(self, cfg: TrainConfig, device: torch.device, batch_size: int, rank: int = 0, world_size: int = 1,
                 images: HRImages | None = None, perceptual: PerceptualLoss | None = None) -> None:
        s = cfg.sr
        self.cfg, self.device, self.scale = s, device, s.net.scale
        self.images = images if images is not None else load_hr_images(cfg.data, s.crop, s.skip_small)
        degradation = DegradationConfig(mode=s.degradation)
        # each process keeps its share of the pool, a multiple of its batch (Real-ESRGAN: 180 per GPU): the Trainer's
        # validate_config ran check_sr_task, which holds sr.pool_size to a multiple of the global batch
        self.sampler = SRPairSampler(self.images, s.crop, self.scale, batch_size, cfg.seed, degradation,
                                     hflip=cfg.xflip, rank=rank, world_size=world_size, usm=s.gt_usm,
                                     pool_size=s.pool_size // world_size)
        self.G: nn.Module = build_sr_generator(s.net)
        self.D: nn.Module = build_sr_discriminator(s.disc)
        self.pixel_weight, self.perceptual_weight, self.gan_weight = s.weights()
        self.perceptual = None
        if self.perceptual_weight > 0:
            self.perceptual = (perceptual or build_perceptual(s.perceptual_net, s.perceptual_weights,
                                                                s.perceptual_precision)).to(device)
        self.loss_d, self.loss_g = get_loss(cfg.loss.name)  # nsgan = Real-ESRGAN's vanilla BCE-with-logits GAN
        self.needs_real = cfg.loss.name == "rpgan"
        held_out = load_hr_images(s.eval_data, s.crop, s.skip_small) if s.eval_data else self.images
        self.eval_lr, self.eval_hr = SRPairSampler(held_out, s.crop, self.scale, s.eval_pairs, s.eval_seed,
                                                   degradation, hflip=False).next()
        self.images_per_step = batch_size * world_size
        if cfg.metrics:  # a named LPIPS network must be there: fail now, not after training
            require_lpips_weights("sr.eval_lpips_net", s.eval_lpips_net)
        if s.distill.method != "none":  # compress ends with an LPIPS evaluation of student and teacher
            require_lpips_weights("sr.distill.eval_lpips_net", s.distill.eval_lpips_net)
        # {result key: extractor} of metrics=[fid_crops...]; bare fid_crops uses metrics_features (and its weights)
        self.fid_crops = {m: m.partition("@")[2] or cfg.metrics_features for m in cfg.metrics
                          if m.partition("@")[0] == "fid_crops"}
        self._fid_weights = {cfg.metrics_features: cfg.metrics_weights}
        if self.fid_crops and rank == 0:  # a missing extractor weights file fails now, not at the first evaluation
            require_fid_extractors(set(self.fid_crops.values()), self._fid_weights, s.eval_fid_size)
        self._lpips: nn.Module | None = None
        self._lpips_missing = s.eval_lpips_net == "none"
        self.distiller = None
        if s.distill.method != "none":  # a student of a frozen SR teacher (compress.sr_distill)
            from ganforge.compress.sr_distill import SRDistiller

            self.distiller = SRDistiller(s.distill, self.G, cfg.kimg, device)

    def g_modules(self) -> dict[str, nn.Module]:
        """Trainable modules of G's loss outside G, by checkpoint name (SDAKD's feature MLP): the trainer moves them
        to the device, optimises them with G's optimiser and keeps them in checkpoints; never in G's weights file."""
        return self.distiller.modules() if self.distiller is not None else {}

    def check_resume(self, path: Path, state: dict) -> None:
        """Before any tensor is read: refuse a checkpoint whose SR networks (sr.net.*, sr.disc.*) or G-side modules
        differ from this run's, naming the keys."""
        saved = (state.get("config") or {}).get("sr") or {}
        for key, own in (("net", self.cfg.net), ("disc", self.cfg.disc)):
            diff = net_diff(own, saved.get(key))
            if diff:
                raise ckpt.CheckpointError(f"{path} was written with other sr.{key}.* settings {diff} (checkpoint, "
                                           f"now); resume with the run's own sr.{key}.* (they are in config.json)")
        if self.distiller is not None:
            self.distiller.check_resume(path)

    @property
    def adversarial(self) -> bool:
        """Whether D is trained this step (the esrgan stage with a GAN weight above 0; the distiller's stage)."""
        return self.gan_weight > 0 and (self.distiller is None or self.distiller.trains_d)

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next (LR, HR) float batch in [0, 1] on the device; sets the distiller's stage for this step."""
        if self.distiller is not None:
            self.distiller.begin_step(self.sampler.step * self.images_per_step)
        return self.sampler.next(self.device)

    def targets(self, hr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(L1, perceptual, GAN) targets: USM(hr) or hr as sr.l1_gt_usm / percep_gt_usm / gan_gt_usm say (Real-ESRGAN's
        released options: USM, USM, plain). The USM crop is recomputed from the batch's HR, which the pair pool may
        have swapped, as released."""
        s = self.cfg
        sharp = usm_sharpen(hr) if (s.l1_gt_usm or s.percep_gt_usm or s.gan_gt_usm) else hr
        return (sharp if s.l1_gt_usm else hr, sharp if s.percep_gt_usm else hr, sharp if s.gan_gt_usm else hr)

    def generator_loss(self, G: nn.Module, D: nn.Module, lr: torch.Tensor, hr: torch.Tensor
                       ) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
        """L_G = w_pix |G(lr) - y_1|_1 + w_percep L_percep(G(lr), y_p) + w_GAN L_adv(D(G(lr))) with y_1, y_p = USM(hr)
        or hr (targets; Real-ESRGAN Sec. 4.1; ESRGAN Eq. 5), plus a distiller's teacher-output term (no GAN term in
        SDAKD's stage 2). Returns the loss, its logged terms and G(lr) for the D step."""
        sr = G(lr) if self.distiller is None else self.distiller.student_forward(G, lr)
        l1_target, percep_target, gan_real = self.targets(hr)
        pixel = F.l1_loss(sr, l1_target)
        loss = self.pixel_weight * pixel
        terms = {"L1": float(pixel.detach())}
        if self.perceptual is not None:
            percep = self.perceptual(sr, percep_target)
            loss = loss + self.perceptual_weight * percep
            terms["L_percep"] = float(percep.detach())
        if self.distiller is not None:
            kd, kd_terms = self.distiller.generator_term(lr, sr)
            loss = loss + kd
            terms.update(kd_terms)
        if self.gan_weight > 0 and (self.distiller is None or self.distiller.g_adversarial):
            fake_logits = D(sr).float()
            real_logits = torch.zeros_like(fake_logits)
            if self.needs_real:
                with torch.no_grad():
                    real_logits = D(gan_real).float()
            adv = self.loss_g(real_logits, fake_logits).mean()  # per-pixel logits of the U-Net D, averaged
            loss = loss + self.gan_weight * adv
            terms["L_GAN"] = float(adv.detach())
        terms["loss_G"] = float(loss.detach())
        return loss, terms, sr

    def discriminator_loss(self, D: nn.Module, hr: torch.Tensor, sr: torch.Tensor
                           ) -> tuple[torch.Tensor, dict[str, float]]:
        """The shared D step (ganforge.training.steps) on the real crops (plain, or USM with sr.gan_gt_usm) against
        G's detached outputs, no penalties; in SDAKD's stage 2, the distiller's matching of the teacher D."""
        real = self.targets(hr)[2]
        if self.distiller is not None and not self.distiller.g_adversarial:
            return self.distiller.discriminator_loss(D, real, sr)
        loss, terms, _, _ = discriminator_loss(lambda x, c: D(x), real, sr.detach(), None, self.loss_d, 0.0,
                                               False, False)
        return loss, terms

    def upscale(self, G: nn.Module, lr: torch.Tensor) -> torch.Tensor:
        """G on a CPU batch in chunks, back on the CPU, rounded to 8-bit levels."""
        return upscale_in_chunks(G, lr, self.device)

    def evaluate(self, G: nn.Module, metrics: list[str], log: Callable[[dict], None] | None = None
                 ) -> dict[str, float]:
        """Mean PSNR / SSIM (Y channel, `scale` border pixels cropped) of G on the held-out pairs, plus LPIPS
        (sr.eval_lpips_net) when its weights are found offline; without them LPIPS is left out, said once (stderr
        and `log`). metrics=[fid_crops] adds the FID on sr.eval_fid_patch crops (ganforge.metrics.sr)."""
        from ganforge.metrics.sr import fid_on_crops

        sr = self.upscale(G, self.eval_lr)
        out = sr_scores(sr, self.eval_hr, self.scale, self.device, self._lpips_net(log),
                        [m for m in metrics if m in PIXEL_METRICS])
        for key in (m for m in metrics if m in self.fid_crops):
            features = self.fid_crops[key]
            out[key] = fid_on_crops(sr, self.eval_hr, self.cfg.eval_fid_patch, features, device=self.device,
                                    weights=self._fid_weights.get(features), size=self.cfg.eval_fid_size)
        return out

    def _lpips_net(self, log: Callable[[dict], None] | None) -> nn.Module | None:
        """The evaluation's LPIPS network, built at the first evaluation; None when off or not available, said once
        in one line (stderr and `log`) naming the missing weights: an evaluation never stops the run."""
        if self._lpips is None and not self._lpips_missing:
            net, note = resolve_lpips_net(self.cfg.eval_lpips_net)  # _lpips_missing covers "none" as asked
            if note is None:
                try:
                    self._lpips = build_lpips(net)
                except (OSError, ImportError, ValueError, RuntimeError) as e:  # e.g. weights removed or corrupt
                    note = f"the {net} LPIPS network could not be built ({str(e).splitlines()[0]}); see docs/weights.md"
            if note is not None:
                self._lpips_missing = True
                note = f"LPIPS is left out of the SR evaluation: {note}; sr.eval_lpips_net=none turns it off"
                print(f"ganforge: {note}", file=sys.stderr)
                if log is not None:
                    log({"event": "lpips_skipped", "note": note})
        return self._lpips

    def save_grid(self, G: nn.Module, path: Path) -> None:
        """One row per held-out pair: bicubic upsampling of the LR input, G's output, the HR crop."""
        n = min(GRID_PAIRS, len(self.eval_lr))
        lr, hr = self.eval_lr[:n], self.eval_hr[:n]
        rows = torch.stack([bicubic_upscale(lr, self.scale), self.upscale(G, lr), hr], 1).flatten(0, 1)
        save_grid(rows.mul(255).round().to(torch.uint8), path, nrow=3)

    def save_generator(self, G: nn.Module, path: Path) -> None:
        """G as a ganforge SR weights file (`ganforge upscale --weights` takes it)."""
        save_sr(G, path)

    def init_from(self, path: Path, G: nn.Module, G_ema: nn.Module) -> Path:
        """The GAN stage's start: G and G_ema from another SR run's EMA generator (Real-ESRGAN initialises from
        ESRNet's params_ema); D, optimisers and counters start fresh. Returns the checkpoint used."""
        from ganforge.training.load import resolve_checkpoint

        c = resolve_checkpoint(path)
        saved = ckpt.read_state(c).get("config") or {}
        if saved.get("task") != "sr":
            raise ckpt.CheckpointError(f"init_from {path}: not a super-resolution run (its config has no task=sr); "
                                       "give the run directory of an esrnet or esrgan run")
        diff = net_diff(self.cfg.net, (saved.get("sr") or {}).get("net"))
        if diff:
            raise ckpt.CheckpointError(f"init_from {path}: its generator has other settings {diff} (checkpoint, "
                                       "this run); set sr.net.* to the checkpoint's values")
        tensors = ckpt.read_tensors(c, "G_ema")
        for module in (G, G_ema):
            ckpt.load_module(module, tensors, f"{c}/G_ema")
        return c


__all__ = ["SRTask", "bicubic_upscale", "build_lpips", "lpips_weights_note", "net_diff", "quantize",
           "require_fid_extractors", "require_lpips_weights", "sr_scores", "upscale_in_chunks"]
