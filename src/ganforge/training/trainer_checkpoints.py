"""Checkpoint writing, resume and fine-tuning starts of the training loop (`Trainer` inherits them)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from torch import nn

from ganforge.networks import NetworkConfig
from ganforge.training import checkpoint as ckpt
from ganforge.training.config import to_dict
from ganforge.training.ema import EXTRA_PREFIX, extra_ema_labels
from ganforge.training.finetune import load_init_weights


class CheckpointMixin:
    """Needs the Trainer's run_dir, dist, device, cfg, task, networks (G, D, G_ema, aux, g_modules), optimisers,
    sampler, guard, augmentation controller, StyleGAN recipe (path length's running mean) and counters."""

    def latest_checkpoint(self) -> Path:
        """The newest complete checkpoint; newer incomplete ones (a killed write) are skipped with a message."""
        latest, note = ckpt.newest_complete(self.run_dir)
        if note and self.dist.is_main:
            print(f"ganforge: {note}", file=sys.stderr)
        return latest

    def _state(self) -> dict:
        return {"cur_nimg": self.cur_nimg, "step": self.step, "sampler": self.sampler.state_dict(),
                "guard": self.guard.state_dict(), "best": self.best,
                "augment": self.aug_ctrl.state_dict(), "config": to_dict(self.cfg),
                "world_size": self.dist.world_size, "run_id": self.run_id,
                "stylegan": self.stylegan.state_dict()}  # path length's running mean

    def modules(self) -> dict[str, nn.Module]:
        """The networks a checkpoint holds: G, D, G_ema, any vision-aided D heads, the task's G-side modules and the
        extra EMAs (schedule.ema_extra_kimg)."""
        return {"G": self.G, "D": self.D, "G_ema": self.G_ema, **self.aux.checkpoint_modules(), **self.g_modules,
                **self.ema_extra.modules}

    def write_checkpoint(self, tag: str) -> Path:
        """Networks, optimisers, counters and RNG states under run_dir/tag."""
        return ckpt.write_checkpoint(self.run_dir, tag, self.modules(), {"G": self.opt_G, "D": self.opt_D},
                                     self._state(), ckpt.rng_tensors(self.device))

    def save_checkpoint(self) -> Path | None:
        if not self.dist.is_main:
            return None
        path = self.write_checkpoint(f"{ckpt.CKPT_PREFIX}{self.cur_nimg // 1000:07d}k{self.step:09d}")
        ckpt.prune_checkpoints(self.run_dir, self.cfg.keep_checkpoints, self.run_id)
        if self.task is not None:  # task=sr: a ganforge SR weights file, as `ganforge upscale` takes
            self.task.save_generator(self.G_ema, self.run_dir / "generator.safetensors")
        else:
            ckpt.save_generator(self.run_dir / "generator.safetensors", self.G_ema, to_dict(self.cfg)["net"],
                                {"kimg": f"{self.cur_nimg / 1000:.3f}"})
        return path

    def restore(self, path: Path, rollback: bool = False) -> None:
        """Load a checkpoint; a rollback keeps the divergence guard's counters so escalation still terminates."""
        try:
            self._restore(path, rollback)
        except ckpt.CheckpointError:
            raise
        except (KeyError, TypeError, IndexError, AttributeError, ValueError, RuntimeError) as e:
            raise ckpt.CheckpointError(f"{path}: its state.json or tensors do not fit this run "
                                       f"({e.__class__.__name__}: {e}); the checkpoint is corrupt, resume from an "
                                       "earlier one") from e

    def _restore(self, path: Path, rollback: bool) -> None:
        state = ckpt.read_state(path)
        saved_net = state.get("config", {}).get("net")
        if isinstance(saved_net, dict):  # keys added since the checkpoint was written take their defaults
            saved_net = {**dataclasses.asdict(NetworkConfig()), **saved_net}
        if saved_net is not None and saved_net != to_dict(self.cfg)["net"]:
            diff = {k: (saved_net.get(k), v) for k, v in to_dict(self.cfg)["net"].items() if saved_net.get(k) != v}
            raise ckpt.CheckpointError(f"{path} was written with other network settings {diff} (checkpoint, now); "
                                       "resume with the run's own config (it is in config.json)")
        if ckpt.is_import(state):  # `ganforge import` of an official snapshot: networks only
            self._continue_import(path, state)
            return
        if self.task is not None:  # task=sr: its networks are sr.net / sr.disc
            self.task.check_resume(path, state)
        ckpt.restore_modules(path, {k: m for k, m in self.modules().items() if k not in self.ema_extra.modules})
        self._restore_extra_emas(path, state)
        ckpt.restore_optimizers(path, {"G": self.opt_G, "D": self.opt_D}, state)
        self.cur_nimg, self.step = int(state["cur_nimg"]), int(state["step"])
        self.run_id = state.get("run_id") or self.run_id
        self.sampler.load_state_dict(state["sampler"])
        if not rollback:
            self.guard.load_state_dict(state.get("guard", {}))
        self.best = state.get("best", {})
        self.stylegan.load_state_dict(state.get("stylegan", {}))
        if "augment" in state:
            self.aug_ctrl.load_state_dict(state["augment"])
            self.augment.p = self.aug_ctrl.p
        ckpt.set_rng(ckpt.read_tensors(path, "extra"), self.device)

    def _restore_extra_emas(self, path: Path, state: dict) -> None:
        """The extra EMAs from the checkpoint; one it lacks (schedule.ema_extra_kimg grown on resume, or an imported
        snapshot) restarts as a copy of G_ema, said in one stderr line. A listed file that is gone is an error."""
        listed = state.get("files") or {}
        fresh = [name for name in self.ema_extra.modules
                 if f"{name}.safetensors" not in listed and not (path / f"{name}.safetensors").is_file()]
        ckpt.restore_modules(path, {k: m for k, m in self.ema_extra.modules.items() if k not in fresh})
        self.ema_extra.copy_from(self.G_ema, fresh)
        dropped = [h for h in extra_ema_labels(path) if EXTRA_PREFIX + h not in self.ema_extra.modules]
        if fresh and self.dist.is_main:
            print(f"ganforge: {path} has no {', '.join(fresh)}; starting {'it' if len(fresh) == 1 else 'them'} as a "
                  "copy of G_ema", file=sys.stderr)
        if dropped and self.dist.is_main:
            print(f"ganforge: {path} has the extra EMAs {', '.join(dropped)}, which schedule.ema_extra_kimg no longer "
                  "lists: later checkpoints will not have them (list them again to continue them)", file=sys.stderr)

    def init_from(self, path: Path) -> None:
        """Fine-tuning start: G, G_ema and D weights from another run; optimisers and counters start fresh. A run
        imported from an official snapshot also hands its ADA p to this run's adaptive ADA controller."""
        state = ckpt.read_state(load_init_weights(path, {"G": self.G, "D": self.D, "G_ema": self.G_ema}))
        if "import" in state:
            self._take_imported_ada(state)

    def _take_imported_ada(self, state: dict) -> None:
        """An imported snapshot's ADA p (its official AugmentPipe's) continues in this run's adaptive controller."""
        aug = state.get("augment")
        if isinstance(aug, dict) and self.cfg.augment.kind == "ada" \
                and aug.get("kind") == self.aug_ctrl.kind == "adaptive":
            self.aug_ctrl.load_state_dict(aug)
            self.augment.p = self.aug_ctrl.p

    def _continue_import(self, path: Path, state: dict) -> None:
        """Resume of a `ganforge import` run: G, G_ema and D from the snapshot, fresh optimisers, the image count
        and ADA p where the official file records them; says so in one stderr line."""
        load_init_weights(path, {"G": self.G, "D": self.D, "G_ema": self.G_ema})
        self._restore_extra_emas(path, state)
        self.cur_nimg, self.step = int(state.get("cur_nimg") or 0), 0
        self._take_imported_ada(state)
        if not self.dist.is_main:
            return
        source = state["import"].get("source", "an official snapshot") if isinstance(state["import"], dict) else ""
        count = (f"at the {self.cur_nimg / 1000:g} kimg the file records" if self.cur_nimg else
                 "at 0 kimg (the file records no image count), burn-ins skipped as with --init-from")
        print(f"ganforge: resuming {self.run_dir}, imported from {source}: G, G_ema and D from the snapshot, fresh "
              f"optimiser states (the snapshot has none), {count}, ADA p {self.augment.p:.4g}", file=sys.stderr)
