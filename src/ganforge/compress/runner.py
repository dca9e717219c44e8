"""The compression loop: load the teacher, build students, run a method's stages, select, checkpoint.

Run directories have the Trainer's layout (ckpt-*/G.safetensors, G_ema, D, state.json with "config" -> "net",
generator.safetensors, samples/, log.jsonl) plus compress.json, metrics.jsonl and best/ (the checkpoint chosen by
`eval_metric`, SDAKD Sec. 4.2), so `ganforge generate|evaluate|export RUN_DIR` work on students unchanged. A run
resumes from its latest ckpt-* (`CompressRunner(cfg, resume=True)`, `ganforge compress --resume RUN_DIR`) exactly
where it stopped: networks, optimisers, the method's modules, counters, sampler, recipe and random state.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch
from torch import nn

from ganforge.compress import config as ccfg
from ganforge.compress.common import DistillMethod, DistillSetup
from ganforge.compress.config import CompressConfig, arm_name, resolved_init
from ganforge.compress.kd import KDMethod
from ganforge.compress.nickel_dime import NickelDimeMethod
from ganforge.compress.resume import (
    check_resumable,
    check_same_teacher,
    check_stages,
    latest_checkpoint,
    resumed_teacher,
)
from ganforge.compress.sdakd import SDAKDMethod
from ganforge.compress.selection import resolve_eval_metric
from ganforge.compress.student import make_student
from ganforge.compress.student_recipe import StudentRecipe
from ganforge.compress.student_stylegan import refuse_unsupported
from ganforge.compress.teacher_stats import STATS_FILE, teacher_digest
from ganforge.data import BatchSampler, ImageDataset, load_dataset, to_uint8
from ganforge.errors import UserError
from ganforge.losses import get_loss
from ganforge.networks import Discriminator, Generator, NetworkConfig
from ganforge.training import checkpoint as ckpt
from ganforge.training.config import TrainConfig, to_dict
from ganforge.training.load import load_discriminator, load_generator, resolve_checkpoint
from ganforge.training.logger import RunLogger
from ganforge.training.loop import run_stages
from ganforge.training.overrides import ConfigError, update_from_dict
from ganforge.training.presets import get_preset
from ganforge.training.rundir import RunDirError, RunLock, claim_run_dir, clear_run, run_contents
from ganforge.training.stages import RecipeSteps
from ganforge.training.trainer import resolve_device
from ganforge.training.validate import check_data_matches
from ganforge.utils.grid import save_grid
from ganforge.utils.rng import forked_rng

METHOD_CLASSES: dict[str, type[DistillMethod]] = {"sdakd": SDAKDMethod, "nickel-dime": NickelDimeMethod,
                                                  "kd": KDMethod}


def teacher_config(state: dict) -> TrainConfig:
    """The teacher run's TrainConfig from a checkpoint's state.json."""
    saved = state.get("config")
    if not saved or "net" not in saved:
        raise ckpt.CheckpointError("the teacher checkpoint has no network config (state.json -> config -> net)")
    return update_from_dict(get_preset(saved.get("preset", "tiny")), copy.deepcopy(saved))


def load_teacher(path: str | Path, device: torch.device | str = "cpu") -> tuple[Generator, Discriminator,
                                                                                 TrainConfig, Path]:
    """(G_T = the EMA generator, D_T, the teacher's TrainConfig, checkpoint dir), both networks frozen and eval."""
    from ganforge.compress.sr_distill import is_sr_teacher

    if is_sr_teacher(path):
        raise UserError(f"teacher {path}: a super-resolution model; compress it with compress.sr_distill "
                        "(sr_compress_config + compress_sr, or `ganforge compress --teacher ... --method sdakd|kd`)")
    c = resolve_checkpoint(path)
    cfg = teacher_config(ckpt.read_state(c))
    try:  # students are built for R3GAN and StyleGAN2 teachers (compress.student, compress.student_stylegan)
        refuse_unsupported(cfg.net)
    except UserError as e:
        raise UserError(f"teacher {path}: {e}") from None
    return load_generator(c, device), load_discriminator(c, device), cfg, c


class CompressRunner(RecipeSteps):
    """`CompressRunner(cfg).train()` distils the teacher into a C-width student; returns the run directory.

    It builds the run (teacher, students, the method: a staged recipe, training.stages) and supplies the run-directory
    hooks; the one training loop (training.loop.run_stages) steps it.
    """

    def __init__(self, cfg: CompressConfig, dataset: ImageDataset | None = None, overwrite: bool = False,
                 resume: bool = False):
        ccfg.validate(cfg)
        if resume and overwrite:
            raise ConfigError("resume continues the run in out and overwrite deletes it; give only one of them")
        if not cfg.teacher and not resume:
            raise ValueError("no teacher checkpoint given (--teacher RUN_DIR)")
        cfg.init = resolved_init(cfg)  # "auto" -> the method's paper's choice; compress.json records the result
        self.cfg = cfg
        self.arm = arm_name(cfg)
        self.device = resolve_device(cfg.device)
        self.run_dir = Path(cfg.out)
        self.run_lock = claim_student_dir(self.run_dir, cfg.teacher, overwrite, resume)
        resumed = latest_checkpoint(self.run_dir) if resume else None
        torch.manual_seed(cfg.seed)
        teacher = resumed_teacher(self.run_dir, resumed[1]) if resumed else cfg.teacher
        self.G_T, self.D_T, self.teacher_cfg, self.teacher_ckpt = load_teacher(teacher, self.device)
        self.teacher_digest = teacher_digest(self.G_T)
        if resumed:
            check_same_teacher(self.run_dir, resumed[1], self.teacher_ckpt, self.teacher_digest)
        tcfg = copy.deepcopy(self.teacher_cfg)
        if cfg.data:
            tcfg.data = cfg.data
        if cfg.data_size is not None:
            tcfg.data_size = cfg.data_size
        data = dataset if dataset is not None else load_dataset(
            tcfg.data, xflip=tcfg.xflip, root=tcfg.data_root, size=tcfg.data_size, seed=tcfg.seed,
            skip_bad=tcfg.skip_bad_images, max_images=tcfg.data_size if not tcfg.data.startswith("stacked") else None)
        net_before = to_dict(tcfg)["net"]
        self.data = check_data_matches(tcfg, data)
        if to_dict(tcfg)["net"] != net_before:
            raise ValueError(f"data '{tcfg.data}' does not match the teacher (channels/classes differ)")

        cfg.eval_metric, self.selection_note = resolve_eval_metric(cfg.eval_metric, self.data)
        if cfg.eval_metric:
            from ganforge.metrics import result_keys

            try:
                result_keys(cfg.eval_metric)
            except ValueError as e:
                raise ConfigError(f"eval_metric: {e}") from None
        if resumed:
            check_resumable(self.run_dir, cfg, resumed[1].get("compress", {}))
            cfg.teacher = cfg.teacher or resumed[1]["compress"].get("teacher", "")
        self.G_S = make_student(self.G_T, cfg.fraction, cfg.init).requires_grad_(True).train()
        self.D_S = make_student(self.D_T, cfg.fraction, cfg.init).requires_grad_(True).train()
        self.G_ema = copy.deepcopy(self.G_S).eval().requires_grad_(False)
        loss_cfg = self.teacher_cfg.loss
        loss_d, loss_g = get_loss(loss_cfg.name)
        gamma = cfg.gamma if cfg.gamma is not None else self.teacher_cfg.schedule.gamma_end
        # a StyleGAN2 teacher's recipe for the student's adversarial part (inert for R3GAN teachers)
        self.student_recipe = StudentRecipe.for_teacher(self.teacher_cfg, cfg.student_recipe, self.device)
        self.setup = DistillSetup(cfg, self.G_T, self.D_T, self.G_S, self.D_S, loss_cfg.name, loss_d, loss_g,
                                  gamma, loss_cfg.r1, loss_cfg.r2, self.device, self.run_dir, self.student_recipe)
        self.method = METHOD_CLASSES[cfg.method](self.setup)
        self.sampler = BatchSampler(self.data, cfg.batch_size, cfg.seed, group=self.teacher_cfg.net.pack)
        self.batch_size, self.max_nonfinite_skips = cfg.batch_size, cfg.max_nonfinite_skips
        self.cur_nimg, self.step, self.stage, self.nonfinite = 0, 0, "", 0
        self.best: dict = {}
        self.closed: list[str] = []  # stages whose end_stage (model selection) has run
        self._grid_z = torch.randn(cfg.grid_size, self.G_S.z_dim, generator=torch.Generator().manual_seed(cfg.seed))
        nc = self.G_S.num_classes
        self._grid_c = (torch.arange(cfg.grid_size) % nc) if nc else None
        self.student_train_cfg = self._student_train_config(tcfg)
        if resumed:  # last: everything above that draws random numbers has run, the restored stream continues
            self._restore(*resumed)
        (self.run_dir / "config.json").write_text(json.dumps(self.student_train_cfg, indent=1))
        pieces = self.student_recipe.pieces()
        (self.run_dir / "compress.json").write_text(json.dumps({**ccfg.to_dict(cfg), "applied_recipe": pieces},
                                                               indent=1))
        self.logger = RunLogger(self.run_dir)
        event = {"event": "resume", "from": resumed[0].name} if resumed else {"event": "start"}
        self.logger.log({**event, "kimg": self.cur_nimg / 1000, "arm": self.arm, "init": cfg.init,
                         "eval_metric": cfg.eval_metric, "selection": self.selection_note, "recipe": pieces})

    def _student_train_config(self, tcfg: TrainConfig) -> dict:
        """The teacher's TrainConfig with the student's net: what `ganforge train --init-from` would need."""
        d = to_dict(tcfg)
        d.update(out=str(self.run_dir), kimg=self.total_kimg, init_from=None, seed=self.cfg.seed,
                 batch_size=self.cfg.batch_size)
        d["net"] = to_dict_net(self.G_S.cfg)
        return d

    @property
    def total_kimg(self) -> float:
        return sum(k for _, k in self.method.stages())

    @property
    def recipe(self) -> DistillMethod:
        return self.method

    @property
    def G(self) -> nn.Module:
        return self.G_S

    def ema_halflife(self, cur_nimg: int) -> float:
        """G_ema's half-life in images: ema_halflife_kimg, capped at ema_rampup x images seen (StyleGAN2-ADA)."""
        return min(self.cfg.ema_halflife_kimg * 1000, cur_nimg * self.cfg.ema_rampup)

    # ---- checkpoints ---------------------------------------------------------------------------------------------
    def _modules(self) -> dict[str, nn.Module]:
        return {"G": self.G_S, "D": self.D_S, "G_ema": self.G_ema, **self.method.modules()}

    def _state(self) -> dict:
        return {"cur_nimg": self.cur_nimg, "step": self.step, "stage": self.stage, "best": self.best, "arm": self.arm,
                "closed": self.closed, "stages": self.method.stages(), "nonfinite": self.nonfinite,
                "sampler": self.sampler.state_dict(), "recipe": self.student_recipe.state_dict(),
                "config": self.student_train_cfg, "compress": ccfg.to_dict(self.cfg),
                "teacher": {"checkpoint": str(self.teacher_ckpt.resolve()), "digest": self.teacher_digest}}

    def save_checkpoint(self, tag: str | None = None) -> Path:
        tag = tag or f"{ckpt.CKPT_PREFIX}{self.cur_nimg // 1000:07d}k{self.step:09d}"
        path = ckpt.write_checkpoint(self.run_dir, tag, self._modules(), self.method.optimizers(), self._state(),
                                     ckpt.rng_tensors(self.device))
        if tag.startswith(ckpt.CKPT_PREFIX):
            ckpt.prune_checkpoints(self.run_dir, self.cfg.keep_checkpoints)
        return path

    def _restore(self, path: Path, state: dict) -> None:
        """Continue from checkpoint `path`: networks, the method's modules and optimisers, counters, model
        selection, sampler position, recipe state and random state; the stage plan may only grow (check_stages)."""
        if "sampler" not in state:
            raise ckpt.CheckpointError(f"{path} was written by a ganforge whose compression runs could not resume "
                                       "(no sampler state); start the run again with --overwrite")
        try:
            ckpt.restore_modules(path, self._modules())
            ckpt.restore_optimizers(path, self.method.optimizers(), state)
            self.cur_nimg, self.step, self.stage = int(state["cur_nimg"]), int(state["step"]), str(state["stage"])
            self.nonfinite, self.best = int(state.get("nonfinite", 0)), dict(state.get("best") or {})
            self.closed = check_stages(state["stages"], self.method.stages(), list(state["closed"]), self.cur_nimg)
            self.sampler.load_state_dict(state["sampler"])
            self.student_recipe.load_state_dict(state["recipe"])
            extra = ckpt.read_tensors(path, "extra")
        except (ckpt.CheckpointError, ConfigError):
            raise
        except (KeyError, TypeError, IndexError, AttributeError, ValueError, RuntimeError) as e:
            raise ckpt.CheckpointError(f"{path}: its state.json or tensors do not fit this run ({e.__class__.__name__}"
                                       f": {e}); the checkpoint is corrupt, resume from an earlier one") from e
        ckpt.set_rng(extra, self.device)

    def save_generator(self) -> None:
        ckpt.save_generator(self.run_dir / "generator.safetensors", self.G_ema, to_dict_net(self.G_S.cfg),
                            {"kimg": f"{self.cur_nimg / 1000:.3f}", "method": self.cfg.method, "arm": self.arm,
                             "init": self.cfg.init, "fraction": str(self.cfg.fraction)})

    def save_grid(self) -> None:
        with torch.no_grad():
            c = None if self._grid_c is None else self._grid_c.to(self.device)
            images = self.G_ema(self._grid_z.to(self.device), c)
        save_grid(to_uint8(images).cpu(), self.run_dir / "samples" / f"grid-{self.cur_nimg // 1000:07d}k.png")

    # ---- model selection ------------------------------------------------------------------------------------------
    def evaluate(self, stage: str) -> dict[str, float]:
        """Validation metric of G_ema; a new best is written to best/ and generator.safetensors."""
        if not self.cfg.eval_metric:
            return {}
        from ganforge.metrics import evaluate_generator, is_better

        t0 = time.time()
        with forked_rng(self.device):  # the training stream continues as if no evaluation ran (utils.rng)
            results = evaluate_generator(self.G_ema, self.data, self.cfg.eval_metric, self.cfg.eval_num,
                                         seed=self.cfg.eval_seed, device=self.device)
        first = self.cfg.eval_metric.split(",")[0].strip()
        key = first if first in results else next(iter(results))
        record = {"kimg": self.cur_nimg / 1000, "stage": stage, **results, "eval_seconds": time.time() - t0}
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        if is_better(key, results[key], self.best.get("value")):
            self.best = {"metric": key, "value": results[key], "kimg": self.cur_nimg / 1000, "stage": stage}
            self.save_checkpoint(tag="best")
            self.save_generator()
        return results

    # ---- the loop's hooks (training.loop; the step itself is training.stages.RecipeSteps) ------------------------
    def train_step(self) -> dict[str, float]:
        self.student_recipe.step = self.step  # lazy R1 and path length count the run's steps
        return super().train_step()

    def evaluate_during(self, stage: str) -> None:
        self.evaluate(stage)

    def end_stage(self, stage: str) -> None:
        """Model selection after every stage (SDAKD Sec. 4.2), once: a resumed run skips the stages it had closed."""
        if stage not in self.closed:
            self.evaluate(stage)
            self.closed.append(stage)

    def train(self) -> Path:
        cfg = self.cfg
        self.save_grid()
        run_stages(self, self.method.stages(), cfg.log_every_kimg * 1000, cfg.snapshot_every_kimg * 1000,
                   cfg.eval_every_kimg * 1000)
        self.save_checkpoint()
        self.save_grid()
        if not self.best:
            self.save_generator()
        self.logger.close()
        self.run_lock.release()
        return self.run_dir


def claim_student_dir(run_dir: Path, teacher: str, overwrite: bool, resume: bool = False) -> RunLock:
    """Create and lock the student's run directory. A new run refuses a directory holding an earlier run unless
    overwrite=True, which deletes that run's files (the teacher inside it and the reusable teacher statistics stay);
    resume=True keeps them (and puts back checkpoint copies a crash left between two renames)."""
    if resume:
        lock = claim_run_dir(run_dir, resume=True, overwrite=False)
        for note in ckpt.recover_checkpoints(run_dir):
            print(f"ganforge: {note}", file=sys.stderr)
        return lock
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"--out {run_dir} is a file; give a directory (it is created if missing)")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunDirError(f"cannot create run directory {run_dir} ({e.strerror or e}); choose another --out") from e
    lock = RunLock(run_dir)
    teacher_path = Path(teacher).resolve() if teacher else None
    kept = {STATS_FILE} | {p.name for p in run_dir.iterdir()
                           if teacher_path is not None and teacher_path.is_relative_to(p.resolve())}
    old = [name for name in run_contents(run_dir) if name not in kept]
    if old and not overwrite:
        lock.release()
        shown = ", ".join(old[:4]) + (", ..." if len(old) > 4 else "")
        raise RunDirError(f"{run_dir} is not empty ({shown}); continue that run with --resume {run_dir}, replace it "
                          "with --overwrite (deletes its checkpoints and logs), or choose another --out")
    if old:
        clear_run(run_dir)
        (run_dir / "compress.json").unlink(missing_ok=True)
    return lock


def to_dict_net(net: NetworkConfig) -> dict:
    return dataclasses.asdict(net)


__all__ = ["METHOD_CLASSES", "CompressRunner", "claim_student_dir", "load_teacher", "teacher_config"]
