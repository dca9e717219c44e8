"""The training loop: data, networks, schedules, EMA, checkpoints, resume, divergence guard, graceful stop."""

from __future__ import annotations

import contextlib
import copy
import json
import signal
import uuid
import warnings
from collections.abc import Collection
from pathlib import Path

import torch

from ganforge.augment import build_augment, build_controller
from ganforge.data import BatchSampler, ImageDataset, load_dataset, to_float, to_uint8
from ganforge.data.sr_pairs import HRImages
from ganforge.distill import build_self_distiller
from ganforge.losses import get_loss
from ganforge.networks import make_networks
from ganforge.training import checkpoint as ckpt
from ganforge.training.aux_discriminators import AuxDiscriminators, main_discriminator
from ganforge.training.config import TrainConfig, to_dict
from ganforge.training.distributed import DistInfo, average_gradients, barrier, init_distributed
from ganforge.training.ema import ExtraEMAs, update_ema
from ganforge.training.finetune import skip_burnin
from ganforge.training.guard import DivergenceGuard, first_nonfinite, grad_norm
from ganforge.training.logger import RunLogger
from ganforge.training.loop import run_stages
from ganforge.training.overrides import ConfigError
from ganforge.training.rundir import claim_on_main_rank
from ganforge.training.schedules import Cosine, EMAHalfLife, ema_beta
from ganforge.training.speed import as_input, compiled, to_channels_last
from ganforge.training.sr_task import SRTask
from ganforge.training.steps import discriminator_loss, full_precision, generator_loss, joint_pass_ok
from ganforge.training.stylegan_recipe import StyleGANRecipe
from ganforge.training.trainer_checkpoints import CheckpointMixin
from ganforge.training.validate import check_data_matches, check_metrics, validate_config
from ganforge.utils.grid import save_grid
from ganforge.utils.perf import native_bf16, tune_allocator
from ganforge.utils.rng import forked_rng


def resolve_device(name: str) -> torch.device:
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


class Trainer(CheckpointMixin):
    """Owns one run directory. `Trainer(cfg).train()` runs to cfg.kimg; resume=True continues the latest checkpoint."""

    def __init__(self, cfg: TrainConfig, dataset: ImageDataset | HRImages | None = None, resume: bool = False,
                 overwrite: bool = False, keep_burnin: Collection[str] = ()):
        validate_config(cfg)  # also catches values set on the object after it was built
        check_metrics(cfg)
        self.cfg = cfg
        self.run_dir = Path(cfg.out)
        self.device = resolve_device(cfg.device)
        if self.device.type == "cpu":
            tune_allocator()
        self.dist: DistInfo = init_distributed(self.device)
        if self.dist.world_size > 1 and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
            torch.cuda.set_device(self.device)
        if cfg.batch_size % self.dist.world_size:
            raise ConfigError(f"batch_size {cfg.batch_size} is not divisible by {self.dist.world_size} processes")
        self.run_lock = claim_on_main_rank(self.run_dir, resume, overwrite, self.dist, self.device)
        self.run_id = uuid.uuid4().hex  # marks this run's checkpoints: pruning never touches another run's
        self.local_batch = cfg.batch_size // self.dist.world_size
        if self.local_batch % cfg.net.pack:
            raise ConfigError(f"the per-process batch {self.local_batch} is not a multiple of net.pack = "
                              f"{cfg.net.pack} (PacGAN packs whole batches); change batch_size or net.pack")
        torch.manual_seed(cfg.seed)

        # task=sr: HR photos, SR generator, U-Net D, (LR, HR) batches and the SR losses (training.sr_task)
        self.task = SRTask(cfg, self.device, self.local_batch, self.dist.rank, self.dist.world_size,
                           dataset) if cfg.task == "sr" else None
        if self.task is not None:
            self.data, self.G, self.D = self.task.images, self.task.G, self.task.D
        else:
            self.data = dataset if dataset is not None else load_dataset(
                cfg.data, xflip=cfg.xflip, root=cfg.data_root, size=cfg.data_size, seed=cfg.seed,
                skip_bad=cfg.skip_bad_images, resolution=cfg.data_resolution,
                max_images=cfg.data_size if not cfg.data.startswith("stacked") else None)
            self.data = check_data_matches(cfg, self.data)
            self.G, self.D = make_networks(cfg.net)
            self.D = main_discriminator(cfg, self.D)  # d_arch=projected: a Projected GAN D in its place
        self.G.to(self.device)
        self.D.to(self.device)
        # trainable modules of G's loss outside G (task=sr: SDAKD's feature MLP), optimised and checkpointed with G
        self.g_modules: dict[str, torch.nn.Module] = self.task.g_modules() if self.task is not None else {}
        for module in self.g_modules.values():
            module.to(self.device)
        if cfg.channels_last:
            to_channels_last(self.G, self.D)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        # compiled views sharing G's and D's parameters, for the passes without double backward (training.speed)
        self.G_fast, self.D_fast = compiled(self.G, cfg.compile), compiled(self.D, cfg.compile)
        bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and self.device.type == "cuda")
        if bf16 and self.device.type == "cpu" and not native_bf16(self.device):
            warnings.warn("precision=bf16 on a CPU without AVX512-BF16/AMX: BF16 is emulated here and ~5x slower "
                          "than FP32 (benchmarks/train_step.py); use precision=fp32 (the CPU default)", stacklevel=2)
        if bf16:
            self.G.low_precision = self.D.low_precision = torch.bfloat16
        # resuming an official snapshot's import: no optimiser state; where the file records no image count the
        # schedules' position is unknown, so burn-ins are skipped as in fine-tuning (CheckpointMixin._continue_import)
        imported = ckpt.import_state(self.run_dir) if resume else None
        self.resumed_import = imported is not None  # its checkpoint is the user's import: never overwritten
        if (cfg.init_from and not resume) or (imported is not None and not imported.get("cur_nimg")):
            skip_burnin(cfg, keep_burnin)  # fine-tuning: burn-ins skipped unless kept (training.finetune)
        s = cfg.schedule
        self.lr = Cosine(s.lr_start, s.lr_end, s.burnin_kimg)
        self.gamma = Cosine(s.gamma_start, s.gamma_end, s.burnin_kimg)
        self.beta2 = Cosine(s.beta2_start, s.beta2_end, s.burnin_kimg)
        self.ema_halflife = EMAHalfLife(Cosine(s.ema_halflife_kimg_start * 1000, s.ema_halflife_kimg_end * 1000,
                                               s.burnin_kimg), s.ema_rampup)
        self.ema_extra = ExtraEMAs(self.G_ema, self.ema_halflife, s.ema_extra_kimg)  # G_ema_h<kimg>, evaluated only
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=s.lr_start, betas=(s.beta1, s.beta2_start), eps=1e-8)
        if self.g_modules:  # a second group: G's learning-rate and beta2 schedules apply to it too
            self.opt_G.add_param_group({"params": [p for m in self.g_modules.values() for p in m.parameters()]})
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=s.lr_start, betas=(s.beta1, s.beta2_start), eps=1e-8)
        self.aux = AuxDiscriminators.build(cfg, self.device, self.opt_D)  # cfg.d_aux, heads in opt_D's 2nd group
        self.loss_d, self.loss_g = get_loss(cfg.loss.name)
        self.augment = build_augment(cfg.augment).to(self.device)
        self.aug_ctrl = build_controller(cfg.augment)
        self.augment.p = self.aug_ctrl.p
        self.self_distiller = build_self_distiller(cfg.sd, self.device) if cfg.self_distill else None
        # StyleGAN2: style mixing, path length, separate D passes (training.stylegan_recipe); inert for R3GAN
        self.stylegan = StyleGANRecipe(cfg, self.device, self.dist.rank, self.dist.world_size)
        self.joint_d = self.stylegan.joint_d and joint_pass_ok(self.D, self.local_batch)
        self.sampler = self.task.sampler if self.task is not None else BatchSampler(
            self.data, self.local_batch, cfg.seed, self.dist.rank, self.dist.world_size,
            group=cfg.net.pack)  # conditional PacGAN: each pack shares one label
        self.guard = DivergenceGuard(cfg.max_nonfinite_skips, cfg.max_rollbacks)
        self.cur_nimg, self.step = 0, 0
        self.best: dict = {}
        self._last_penalty: dict[str, float] = {}
        self._stop_requested = False
        nc = cfg.net.num_classes
        self._grid_nrow = nc if 0 < nc <= 16 else None  # few classes: one column per class, whole rows
        grid_n = max(1, cfg.grid_size // nc) * nc if self._grid_nrow else cfg.grid_size
        self._grid_z = torch.randn(grid_n, cfg.net.z_dim, generator=torch.Generator().manual_seed(cfg.seed))
        self._grid_c = (torch.arange(grid_n) % nc) if nc else None

        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        if resume:
            self.restore(self.latest_checkpoint())
        elif cfg.init_from and self.task is not None:
            self.task.init_from(Path(cfg.init_from), self.G, self.G_ema)  # the GAN stage from ESRNet
        elif cfg.init_from:
            self.init_from(Path(cfg.init_from))
        if not resume:  # a fine-tuning start loaded G_ema: the extra EMAs start from it too
            self.ema_extra.copy_from(self.G_ema)
        if self.dist.is_main and (not resume or imported is not None):  # a resumed import is a ganforge run now
            with open(self.run_dir / "config.json", "w") as f:
                json.dump(to_dict(cfg), f, indent=1)
        barrier(self.dist)
        self.logger = RunLogger(self.run_dir, enabled=self.dist.is_main)

    # ---- one iteration -----------------------------------------------------------------------------------------
    def _set_hparams(self) -> dict[str, float]:
        lr, beta2 = self.lr(self.cur_nimg), self.beta2(self.cur_nimg)
        for opt, scale in ((self.opt_G, 1.0), (self.opt_D, self.cfg.schedule.d_lr_ratio)):
            for g in opt.param_groups:
                g["lr"], g["betas"] = lr * scale, (self.cfg.schedule.beta1, beta2)
        return {"lr": lr, "beta2": beta2, "gamma": self.gamma(self.cur_nimg),
                "ema_halflife_kimg": self.ema_halflife(self.cur_nimg) / 1000}

    def _global_z(self) -> torch.Tensor:
        """Latents for the global batch drawn identically on every rank, then sliced: 1 or N processes agree."""
        z = torch.randn(self.cfg.batch_size, self.cfg.net.z_dim)
        r = self.dist.rank
        return z[r * self.local_batch:(r + 1) * self.local_batch].to(self.device)

    def _backward(self, opt: torch.optim.Optimizer, net: torch.nn.Module, loss: torch.Tensor) -> float:
        """Fresh gradients of loss for net's optimiser, averaged over processes; returns their norm."""
        opt.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(net, self.dist)
        return grad_norm(net)

    def _finish_step(self, bad: str | None) -> None:
        """After an applied G update: EMA and the divergence guard; then the counters."""
        if bad is None:
            update_ema(self.G_ema, self.G, ema_beta(self.cfg.batch_size, self.ema_halflife(self.cur_nimg)))
            self.ema_extra.update(self.G, self.cfg.batch_size, self.cur_nimg)
            self.guard.good()
        self.cur_nimg += self.cfg.batch_size
        self.step += 1

    def _sr_step(self, hp: dict[str, float]) -> dict[str, float]:
        """Real-ESRGAN's iteration (training.sr_task): the G step with D frozen, then the D step on the same SR
        output (esrgan stage); both updates are skipped when any logged term is not finite."""
        lr, hr = self.task.next_batch()
        self.D.requires_grad_(False)
        loss_G, terms, sr = self.task.generator_loss(self.G_fast, self.D_fast, lr, hr)
        terms["grad_G"] = self._backward(self.opt_G, self.G, loss_G)
        for module in self.g_modules.values():
            average_gradients(module, self.dist)
        if self.task.adversarial:
            self.D.requires_grad_(True)
            loss_D, terms_D = self.task.discriminator_loss(self.D_fast, hr, sr)
            terms.update(terms_D, grad_D=self._backward(self.opt_D, self.D, loss_D))
        bad = first_nonfinite(terms)
        if bad is None:
            self.opt_G.step()
            if self.task.adversarial:
                self.opt_D.step()
        self._finish_step(bad)
        return {**hp, **terms, "nonfinite": bad}

    def train_step(self) -> dict[str, float]:
        """One D step then one G step on the same real batch (task=sr: _sr_step); returns the logged terms."""
        hp = self._set_hparams()
        if self.task is not None:
            return self._sr_step(hp)
        real_u8, c = self.sampler.next(self.device)
        cfg = self.cfg
        real = as_input(to_float(real_u8), cfg.channels_last)

        z = self._global_z()
        with torch.no_grad(), self.stylegan.mixing(self.G):
            fake = self.G_fast(z, c)
        self.D.requires_grad_(True)
        fp32 = full_precision(self.D) if cfg.loss.penalty_fp32 else full_precision()
        k = cfg.loss.r_every
        regularise = self.step % k == 0  # lazy R1/R2 (StyleGAN2 Sec. 3.5): every k-th step, weighted by k
        penalised = regularise and (cfg.loss.r1 or cfg.loss.r2)  # double backward: eager D, never compiled
        with fp32 if regularise else contextlib.nullcontext():
            loss_D, terms_D, real_logits, fake_logits = discriminator_loss(
                self.D if penalised else self.D_fast, real, fake, c, self.loss_d, hp["gamma"] * k,
                cfg.loss.r1 and regularise, cfg.loss.r2 and regularise, self.augment,
                self.aux.d_term(self.cur_nimg, hp["gamma"] * k, regularise), joint=self.joint_d)
        terms_D["grad_D"] = self._backward(self.opt_D, self.D, loss_D)
        average_gradients(self.aux, self.dist)
        bad = first_nonfinite(terms_D)
        if regularise:
            self._last_penalty = {key: terms_D[key] for key in ("R1", "R2") if key in terms_D}
        terms_D.update({**self._last_penalty, "regularised": float(regularise)})  # lazy steps log the last R1/R2
        if bad is None:
            self.opt_D.step()
        # ADA's r_t = E[sign(D(real))]; with the relativistic loss, of D(real) - D(fake) (no fixed zero)
        self.augment.p = self.aug_ctrl.update(self.cur_nimg, cfg.batch_size, real_logits,
                                              fake_logits if cfg.loss.name == "rpgan" else None)

        z = self._global_z()
        self.D.requires_grad_(False)
        with self.stylegan.mixing(self.G, teacher=self.G_ema):
            loss_G, terms_G = generator_loss(self.G_fast, self.D_fast, real, z, c, self.loss_g, self.augment,
                                             self._self_distill_term(c), self.G_ema,
                                             needs_real=cfg.loss.name == "rpgan", aux=self.aux.g_term(self.cur_nimg))
        pl_loss, pl_terms = self.stylegan.path_length(self.G, z, c, self.step)  # lazy, StyleGAN2 Eq. 4
        loss_G = loss_G + pl_loss
        terms_G.update(pl_terms)
        terms_G["grad_G"] = self._backward(self.opt_G, self.G, loss_G)
        bad = bad or first_nonfinite(terms_G)
        if bad is None:
            self.opt_G.step()
        self._finish_step(bad)
        aug = self.aug_ctrl.stats()
        return {**hp, **terms_D, **terms_G, "aug_p": aug["p"], "aug_r_t": aug["r_t"], "nonfinite": bad}

    def _self_distill_term(self, c: torch.Tensor | None):
        """SD-GAN Eq. 2 term as (alpha * L_SD, L_SD), or None when self-distillation is off."""
        if self.self_distiller is None:
            return None
        sd = self.self_distiller
        d_feats = (lambda x: self.D(x, c, return_features=True)[1]) if self.cfg.sd.distance == "d-features" else None
        return lambda fake, teacher: sd.generator_term(fake, teacher, d_feats)

    # ---- the loop (training.loop runs it; these are its hooks) -----------------------------------------------
    def _request_stop(self, signum, frame) -> None:
        self._stop_requested = True

    def should_stop(self) -> bool:
        """A signal on any rank stops all ranks after the same step (otherwise collectives would hang)."""
        if self.dist.world_size > 1:
            flag = torch.tensor([float(self._stop_requested)], device=self.device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            self._stop_requested = bool(flag.item())
        return self._stop_requested

    def handle_nonfinite(self, term: str) -> None:
        action = self.guard.bad(self.step, term)  # raises TrainingDiverged when out of options
        self.logger.log({"event": "nonfinite", "term": term, "step": self.step, "action": action,
                         "kimg": self.cur_nimg / 1000})
        if action == "rollback":
            self.restore(self.latest_checkpoint(), rollback=True)

    def begin_stage(self, stage: str) -> None:
        """The GAN recipes run as one stage."""

    def end_stage(self, stage: str) -> None:
        """Nothing: the closing evaluation follows the final checkpoint (train)."""

    def log_record(self, stage: str, sec_per_kimg: float, terms: dict) -> dict:
        return {"kimg": self.cur_nimg / 1000, "step": self.step, "sec_per_kimg": sec_per_kimg,
                "max_rss_mb": _max_rss_mb(), **{k: v for k, v in terms.items() if k != "nonfinite"}}

    def evaluate_during(self, stage: str) -> None:
        self.evaluate()
        barrier(self.dist)

    def save_grid(self) -> Path | None:
        if not self.dist.is_main:
            return None
        path = self.run_dir / "samples" / f"grid-{self.cur_nimg // 1000:07d}k.png"
        if self.task is not None:
            self.task.save_grid(self.G_ema, path)
            return path
        with torch.no_grad():
            c = None if self._grid_c is None else self._grid_c.to(self.device)
            images = self.G_ema(self._grid_z.to(self.device), c)
        save_grid(to_uint8(images).cpu(), path, self._grid_nrow)
        return path

    def evaluate(self) -> dict[str, float]:
        """Run cfg.metrics on the EMA generator, log them, redraw the curves, keep the best checkpoint.
        Every rank calls it: each generates and embeds its share of the samples; rank 0 records the results."""
        from ganforge.metrics import evaluate_generator, is_better, plot_metric_curves

        if self.task is not None and not self.dist.is_main:
            return {}  # task=sr: rank 0 scores the held-out pairs alone (no collective inside)
        with forked_rng(self.device):  # building extractors draws from the global RNG (utils.rng)
            if self.task is not None:  # PSNR / SSIM (and LPIPS) on the held-out pairs (training.sr_task)
                results = self.task.evaluate(self.G_ema, self.cfg.metrics, self.logger.log)
            else:
                results = evaluate_generator(
                    self.G_ema, self.data, self.cfg.metrics, num=self.cfg.metrics_num, seed=0, device=self.device,
                    distributed=self.dist.world_size > 1, features=self.cfg.metrics_features,
                    weights=self.cfg.metrics_weights)
        if not self.dist.is_main:
            return results
        record = {"kimg": self.cur_nimg / 1000, "step": self.step, **results}
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        self.logger.log({"kimg": record["kimg"], **{f"metric/{k}": v for k, v in results.items()}})
        plot_metric_curves(self.run_dir / "metrics.jsonl", self.run_dir / "metrics.png")
        key = self.cfg.best_metric  # a result key of cfg.metrics (_check_metrics)
        if key and is_better(key, results[key], self.best.get("value")):
            self.best = {"metric": key, "value": results[key], "kimg": record["kimg"]}
            self.write_checkpoint("best")
        return results

    def train(self) -> Path:
        """Run until cfg.kimg; returns the run directory. SIGINT/SIGTERM checkpoint and stop cleanly."""
        cfg = self.cfg
        old_handlers = {s: signal.signal(s, self._request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
        if self.cur_nimg == 0 and self.dist.is_main and not self.resumed_import:
            self.save_checkpoint()  # a good state to roll back to exists from the start
            self.save_grid()
        try:
            run_stages(self, [("", cfg.kimg)], cfg.log_every_kimg * 1000, cfg.snapshot_every_kimg * 1000,
                       cfg.metrics_every_kimg * 1000 if cfg.metrics else 0, progress=self.dist.is_main)
        finally:
            for s, h in old_handlers.items():
                signal.signal(s, h)
        self.save_checkpoint()
        self.save_grid()
        if cfg.metrics and not self.should_stop():  # collective: all ranks agree whether to evaluate
            self.evaluate()
        barrier(self.dist)
        self.logger.close()
        if self._stop_requested and self.dist.is_main:
            print(f"stopped at {self.cur_nimg / 1000:.1f} kimg; checkpoint written. Continue with: "
                  f"ganforge train --resume {self.run_dir}")
        return self.run_dir


def _max_rss_mb() -> float:
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    except ImportError:
        return float("nan")
