"""Distillation of super-resolution GANs as a pluggable part of the one training loop (task=sr with sr.distill).

The student is an ordinary task=sr run whose sr.net / sr.disc are channel-fraction copies of the teacher's
(compress.sr_student); training.sr_task asks an `SRDistiller` for the frozen teacher, the current stage, the
teacher-output and L_MLP terms of G's loss and, in SDAKD's stage 2, D's loss (the logit matching of
compress.sdakd). SDAKD's feature MLP is a G-side module of the task (SRTask.g_modules): the trainer optimises it
with G and checkpoints it. The loop, EMA, checkpoints and resume stay ganforge.training.trainer's. `compress_sr`
runs it and scores student and teacher on the same held-out pairs (PSNR / SSIM on Y with the border cropped,
LPIPS) into sr_eval.json.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.compress.mlp_distill import FeatureMLP, mlp_distill_loss
from ganforge.compress.sdakd import critic_matching
from ganforge.compress.sr_student import distill_feature_layer, sr_student_config
from ganforge.errors import UserError
from ganforge.networks.sr import SRDiscConfig, SRNetConfig
from ganforge.networks.sr.weights import build_sr, check_tensors, load_sr_weights
from ganforge.training import checkpoint as ckpt
from ganforge.training.config import TrainConfig
from ganforge.training.sr_config import SRDistillConfig
from ganforge.training.sr_task import build_lpips, resolve_lpips_net, sr_scores

EVAL_FILE = "sr_eval.json"
BASE_PRESET = "sr-tiny"  # the training recipe of a student whose teacher is a bare weights file
MLP_MODULE = "G_mlp"  # the feature MLP's name in checkpoints


@dataclass
class SRTeacher:
    """A frozen SR teacher: G (the EMA generator of a run, or a weights file) and D when one is known."""

    G: nn.Module
    D: nn.Module | None
    source: str
    run_config: dict | None  # the teacher run's saved TrainConfig; None for a weights file
    no_d_reason: str = ""  # why D is None


def _run_config(path: Path) -> dict | None:
    """The saved config of a run or checkpoint directory (None when there is none)."""
    for candidate in (path / "config.json", path / "state.json"):
        if candidate.is_file():
            try:
                data = json.loads(candidate.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                return None
            data = data.get("config", data) if candidate.name == "state.json" else data
            return data if isinstance(data, dict) else None
    return None


def is_sr_teacher(path: str | Path) -> bool:
    """A task=sr run / checkpoint directory, or SR weights (official .pth, ganforge SR .safetensors)."""
    from ganforge.compress.sr_cost import is_sr_weights

    p = Path(path)
    if p.is_dir():
        saved = _run_config(p)
        if saved is None and (found := ckpt.list_checkpoints(p)):
            saved = _run_config(found[-1])
        return bool(saved) and saved.get("task") == "sr"
    return is_sr_weights(p)


def _run_network(c: Path, name: str, cfg: SRNetConfig | SRDiscConfig) -> nn.Module:
    tensors = ckpt.read_tensors(c, name)
    check_tensors(cfg, {k: tuple(v.shape) for k, v in tensors.items()}, f"{c}/{name}")
    net = build_sr(cfg)
    ckpt.load_module(net, tensors, f"{c}/{name}")
    return net


def load_sr_teacher(path: str | Path, teacher_d: str | Path = "", device: torch.device | str = "cpu") -> SRTeacher:
    """G_T and D_T (eval, frozen) from a task=sr run (its EMA generator and D) or from weights files."""
    from ganforge.training.load import resolve_checkpoint

    p = Path(path)
    run_config, reason = None, ""
    if p.is_dir():
        c = resolve_checkpoint(p)
        run_config = ckpt.read_state(c).get("config") or {}
        if run_config.get("task") != "sr":
            raise UserError(f"teacher {path}: not a super-resolution run (no task=sr in its config)")
        sr = run_config.get("sr") or {}
        G = _run_network(c, "G_ema", SRNetConfig.from_dict({**dataclasses.asdict(SRNetConfig()), **sr.get("net", {})}))
        D = _run_network(c, "D", SRDiscConfig.from_dict({**dataclasses.asdict(SRDiscConfig()), **sr.get("disc", {})}))
        if sr.get("stage") == "esrnet" or sr.get("gan_weight") == 0:  # built and saved, never trained
            D, reason = None, "the teacher run trained no discriminator (L1-only ESRNet stage)"
    else:
        G, D = load_sr_weights(p), None
        reason = "the teacher is a generator weights file"
        if not isinstance(getattr(G, "cfg", None), SRNetConfig):
            raise UserError(f"teacher {path}: holds an SR discriminator; give the generator as --teacher "
                            "(and the discriminator as --teacher-d)")
    if teacher_d:
        D, reason = load_sr_weights(teacher_d), ""
        if not isinstance(getattr(D, "cfg", None), SRDiscConfig):
            raise UserError(f"--teacher-d {teacher_d}: holds an SR generator, not a U-Net discriminator")
    for net in (G, D):
        if net is not None:
            net.to(device).eval().requires_grad_(False)
    return SRTeacher(G, D, str(path), run_config, reason if D is None else "")


def sr_compress_config(teacher: str, method: str, fraction: float, out: str, teacher_d: str = "") -> TrainConfig:
    """The student's task=sr TrainConfig: the teacher run's recipe (for a weights file, the sr-tiny preset's) with
    every width times `fraction`, the esrgan stage's loss weights (L1 + perceptual + GAN 0.1) and sr.distill set.
    A teacher file without D gets a student D of C x the teacher G's width (Real-ESRGAN's G and D are both 64 wide);
    teacher paths are stored absolute, for resuming from anywhere."""
    from ganforge.training.overrides import update_from_dict
    from ganforge.training.presets import get_preset

    if method not in ("kd", "sdakd"):
        raise UserError(f"--method {method} does not apply to super-resolution teachers; use sdakd or kd")
    if not 0 < fraction <= 1:
        raise UserError(f"--fraction must be in (0, 1], got {fraction}")
    t = load_sr_teacher(teacher, teacher_d)
    if t.run_config is not None:
        cfg = update_from_dict(get_preset(t.run_config.get("preset") or BASE_PRESET), json.loads(json.dumps(
            {k: v for k, v in t.run_config.items() if k not in ("out", "init_from")})))
    else:
        cfg = get_preset(BASE_PRESET)
    s = cfg.sr
    s.net = sr_student_config(t.G.cfg, fraction)
    disc = t.D.cfg if t.D is not None else s.disc if t.run_config is not None else SRDiscConfig(t.G.cfg.num_in_ch,
                                                                                                   t.G.cfg.num_feat)
    s.disc = sr_student_config(disc, fraction)
    s.stage, s.perceptual_weight, s.gan_weight = "esrgan", None, None
    s.distill = SRDistillConfig(method=method, teacher=str(Path(teacher).resolve()),
                                teacher_d=str(Path(teacher_d).resolve()) if teacher_d else "", fraction=fraction)
    cfg.out, cfg.init_from, cfg.preset = out, None, cfg.preset or BASE_PRESET
    return cfg


class FeatureTap:
    """A forward pre-hook keeping the input of one module, only from the passes run inside `capture()` (so copies of
    the network, like the trainer's EMA generator, never record)."""

    def __init__(self, module: nn.Module) -> None:
        self.armed = False
        self.feature: torch.Tensor | None = None
        module.register_forward_pre_hook(self)

    def __call__(self, module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        if self.armed:
            self.feature = args[0]

    @contextmanager
    def capture(self) -> Iterator[None]:
        self.armed, self.feature = True, None
        try:
            yield
        finally:
            self.armed = False

    def take(self) -> torch.Tensor:
        """The recorded feature map (released here, so no step keeps the previous one alive)."""
        feature, self.feature = self.feature, None
        if feature is None:
            raise RuntimeError("no feature map was recorded: run the network inside capture() (for the student: "
                               "SRDistiller.student_forward before generator_term)")
        return feature


class SRDistiller:
    """The teacher side of a distillation run: frozen G_T / D_T, the stage at the current image count, the
    teacher-output and L_MLP terms for G (with the trainable feature MLP) and stage 2's D loss."""

    def __init__(self, cfg: SRDistillConfig, student: nn.Module, kimg: float, device: torch.device) -> None:
        self.cfg = cfg
        self.teacher = load_sr_teacher(cfg.teacher, cfg.teacher_d, device)
        tcfg, scfg = self.teacher.G.cfg, student.cfg
        if (tcfg.arch, tcfg.scale, tcfg.num_in_ch) != (scfg.arch, scfg.scale, scfg.num_in_ch):
            raise UserError(f"sr.net ({scfg.arch}, x{scfg.scale}) does not match the teacher {cfg.teacher} "
                            f"({tcfg.arch}, x{tcfg.scale}); leave sr.net as `ganforge compress` sets it")
        half = kimg / 2 if cfg.stage2_kimg is None else cfg.stage2_kimg
        self.stage2_end = int(half * 1000) if cfg.method == "sdakd" else 0
        self.stage = "kd" if cfg.method == "kd" else "stage2"
        self._teacher_sr: torch.Tensor | None = None
        self.mlp: FeatureMLP | None = None
        if cfg.method == "sdakd" and cfg.mlp_weight > 0:
            # SDAKD Sec. 3.2: the MLP takes the student's width (C x the teacher's) to the teacher's
            s_layer, t_layer = distill_feature_layer(student), distill_feature_layer(self.teacher.G)
            self.mlp = FeatureMLP(s_layer.in_channels, t_layer.in_channels, cfg.mlp_hidden).to(device)
            self._taps = FeatureTap(s_layer), FeatureTap(t_layer)

    @property
    def note(self) -> str:
        """What the stages do with this teacher, for the log and the CLI."""
        if self.cfg.method == "kd":
            return "kd: L1 + perceptual vs HR, kd_weight * L1 vs the teacher's output, GAN 0.1 against a random D_S"
        d = ("D_S matches D_T's logits" if self.teacher.D is not None else
             f"{self.teacher.no_d_reason}, so D_S is not distilled: it keeps its random init through stage 2 "
             "and is first trained adversarially in stage 3 (give --teacher-d to distil it)")
        mlp = f" + {self.cfg.mlp_weight:g} L_MLP" if self.mlp is not None else ""
        return (f"sdakd: stage2 ({self.stage2_end / 1000:g} kimg): G_S on L1 + perceptual vs HR + the teacher-output "
                f"L1{mlp}, {d}; stage3 (the rest): adds the GAN term (0.1) and adversarial D_S training")

    def modules(self) -> dict[str, nn.Module]:
        """The trainable modules of G's loss besides G: the feature MLP when L_MLP is on."""
        return {MLP_MODULE: self.mlp} if self.mlp is not None else {}

    def check_resume(self, path: Path) -> None:
        """Refuse a checkpoint written with the feature MLP into a run without it, or the other way round."""
        saved = (path / f"{MLP_MODULE}.safetensors").is_file()
        if saved and self.mlp is None:
            raise ckpt.CheckpointError(f"{path} holds SDAKD's feature MLP, but this run has no L_MLP "
                                       f"(sr.distill.mlp_weight={self.cfg.mlp_weight:g}); resume with the run's own "
                                       "sr.distill settings (they are in config.json)")
        if not saved and self.mlp is not None:
            raise ckpt.CheckpointError(f"{path} was written without SDAKD's feature MLP (L_MLP); continue it "
                                       "without L_MLP by adding sr.distill.mlp_weight=0")

    def begin_step(self, images_seen: int) -> None:
        """Set the stage of the step that starts after `images_seen` images (restored with the sampler on resume)."""
        if self.cfg.method == "sdakd":
            self.stage = "stage2" if images_seen < self.stage2_end else "stage3"

    @property
    def trains_d(self) -> bool:
        """Whether this step updates D: always but in stage 2 without a teacher D."""
        return self.stage != "stage2" or self.teacher.D is not None

    @property
    def g_adversarial(self) -> bool:
        """Whether G's loss has the GAN term this step (not in SDAKD's supervised stage 2, Eq. 1)."""
        return self.stage != "stage2"

    def student_forward(self, G: nn.Module, lr: torch.Tensor) -> torch.Tensor:
        """G(lr), keeping the student's feature map for L_MLP when it is on."""
        if self.mlp is None:
            return G(lr)
        with self._taps[0].capture():
            return G(lr)

    def generator_term(self, lr: torch.Tensor, sr: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """kd_weight * |G_S(lr) - G_T(lr)|_1, the response-based part of L_sup, plus mlp_weight * L_MLP on the
        feature maps of `student_forward` and G_T's (SDAKD Eq. 1 / 3, lambda1 = mlp_weight)."""
        with torch.no_grad():
            if self.mlp is None:
                self._teacher_sr = self.teacher.G(lr)
            else:
                with self._taps[1].capture():
                    self._teacher_sr = self.teacher.G(lr)
        kd = F.l1_loss(sr, self._teacher_sr)
        loss, terms = self.cfg.kd_weight * kd, {"L_KD": float(kd.detach())}
        if self.mlp is not None:
            l_mlp = mlp_distill_loss(self.mlp, self._taps[0].take(), self._taps[1].take())  # SDAKD Eq. 1 / 3
            loss = loss + self.cfg.mlp_weight * l_mlp
            terms["L_MLP"] = float(l_mlp.detach())
        if self.cfg.method == "sdakd":
            terms["sdakd_stage"] = 2.0 if self.stage == "stage2" else 3.0
        return loss, terms

    def discriminator_loss(self, D: nn.Module, hr: torch.Tensor, sr: torch.Tensor) -> tuple[torch.Tensor,
                                                                                            dict[str, float]]:
        """Stage 2's D_S loss (SDAKD Eq. 2, compress.sdakd's offset-free matching) on HR crops and SR outputs."""
        assert self.teacher.D is not None
        fakes = []
        if self.cfg.stage2_fakes in ("student", "both"):
            fakes.append(sr.detach())
        if self.cfg.stage2_fakes in ("teacher", "both"):
            fakes.append(self._teacher_sr if self._teacher_sr is not None else sr.detach())
        D_T = self.teacher.D
        loss, terms = critic_matching(lambda x, c: D(x), lambda x, c: D_T(x), torch.cat([hr, *fakes]), None,
                                      self.cfg.d_match)
        return loss, {**terms, "loss_D": terms["L_D_match"]}


@torch.no_grad()
def evaluate_sr(nets: dict[str, nn.Module], task, lpips: nn.Module) -> dict[str, dict[str, float]]:
    """Mean PSNR / SSIM (Y channel, `scale` border pixels cropped) and LPIPS of each network on the task's fixed
    held-out pairs, outputs rounded to 8 bits as saved images are."""
    return {name: {**sr_scores(task.upscale(G, task.eval_lr), task.eval_hr, task.scale, task.device, lpips),
                   "params": sum(p.numel() for p in G.parameters())} for name, G in nets.items()}


def compress_sr(cfg: TrainConfig, dataset=None, resume: bool = False, overwrite: bool = False) -> tuple[Path, dict]:
    """Train (or resume) the student run of `cfg` (sr_compress_config) with the Trainer, then write sr_eval.json:
    student (EMA G) and teacher on the same held-out pairs. Returns (run directory, the evaluation); with several
    processes only rank 0 evaluates (the others get an empty dict)."""
    from ganforge.training.trainer import Trainer

    if cfg.task != "sr" or cfg.sr.distill.method == "none":
        raise UserError(f"{cfg.out}: not a super-resolution compression config (task=sr with sr.distill.method)")
    d = cfg.sr.distill
    if d.method == "sdakd" and d.stage2_kimg is None and not resume:
        d.stage2_kimg = cfg.kimg / 2  # pinned in config.json, so a lengthened resume keeps the stage boundary
    trainer = Trainer(cfg, dataset=dataset, resume=resume, overwrite=overwrite)
    distiller = trainer.task.distiller
    trainer.logger.log({"event": "compress", "method": d.method, "fraction": d.fraction, "teacher": d.teacher,
                        "teacher_d": d.teacher_d or None, "resumed_at_kimg": trainer.cur_nimg / 1000,
                        "note": distiller.note})
    run_dir = trainer.train()  # ends with a barrier; the evaluation below has no collective, so rank 0 runs it alone
    if not trainer.dist.is_main:
        return run_dir, {}
    lpips_net = resolve_lpips_net(d.eval_lpips_net)[0]  # recorded as run: "auto" without weights is "none"
    scores = evaluate_sr({"student": trainer.G_ema, "teacher": distiller.teacher.G}, trainer.task,
                         build_lpips(d.eval_lpips_net))
    t = trainer.task
    result = {"method": d.method, "fraction": d.fraction, "teacher": d.teacher, "kimg": trainer.cur_nimg / 1000,
              "pairs": len(t.eval_lr), "eval_seed": cfg.sr.eval_seed, "eval_data": cfg.sr.eval_data or cfg.data,
              "hr_crop": cfg.sr.crop, "degradation": cfg.sr.degradation, "crop_border": t.scale,
              "lpips_net": lpips_net, **scores}
    (run_dir / EVAL_FILE).write_text(json.dumps(result, indent=1))
    return run_dir, result


__all__ = ["EVAL_FILE", "MLP_MODULE", "FeatureTap", "SRDistiller", "SRTeacher", "compress_sr", "evaluate_sr",
           "is_sr_teacher", "load_sr_teacher", "sr_compress_config"]
