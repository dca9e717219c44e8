"""`ganforge compress`: distil a trained teacher into a channel-fraction student (sdakd | nickel-dime | kd); a
super-resolution teacher (task=sr run or SR weights) takes the sdakd | kd path of ganforge.compress.sr_distill."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ganforge.compress.config import DIME_MODES, INIT_CHOICES, METHODS, CompressConfig, arm_name, to_dict, validate
from ganforge.compress.sr_distill import is_sr_teacher
from ganforge.training.overrides import ConfigError, apply_overrides


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compress", help="GAN compression by distillation into a C-width student",
                       description="Distil --teacher into a student with every width times --fraction. Extra "
                                   "key=value pairs override any compress config key, e.g. sdakd.lambda2=0.2 "
                                   "sup.lpips_net=alexnet nickel.embeddings=[\"vgg16:20\"] nickel.dime_mode=paired. "
                                   "Without --teacher, stage 1 trains one first with `ganforge train`. With a "
                                   "super-resolution teacher they override training config keys instead, e.g. "
                                   "sr.crop=64 sr.distill.kd_weight=0.5 sr.distill.stage2_kimg=2 "
                                   "(docs/super_resolution.md).")
    p.add_argument("--teacher", help="teacher run directory or checkpoint; for super-resolution also an official "
                                     "Real-ESRGAN .pth or a ganforge SR .safetensors generator")
    p.add_argument("--teacher-d", dest="teacher_d",
                   help="super-resolution only: the teacher's U-Net discriminator weights (e.g. the official "
                        "RealESRGAN_x4plus_netD.pth), for SDAKD's stage-2 D distillation when --teacher is a file")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue the student run in RUN_DIR from its latest checkpoint, with its own teacher and "
                        "settings (--kimg, --device and key=value overrides of its length and cadence may change)")
    p.add_argument("--method", choices=METHODS, help="distillation method (default sdakd)")
    p.add_argument("--fraction", type=float, help="student width fraction C (e.g. 0.5, 0.25, 0.125; default 0.25)")
    p.add_argument("--out", help="student run directory (required unless --resume)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run in an --out directory that holds one (or continue it with --resume); "
                        "without --teacher this also retrains the stage-1 teacher in <out>/teacher")
    p.add_argument("--kimg", type=float, help="student training length, all stages together (default 10)")
    p.add_argument("--data", help="training data (default: the teacher's)")
    p.add_argument("--batch-size", type=int, dest="batch_size")
    p.add_argument("--seed", type=int)
    p.add_argument("--device")
    p.add_argument("--init", choices=INIT_CHOICES,
                   help="student init; auto (default): the method's paper's, i.e. random for sdakd (SDAKD Sec. 3.3), "
                        "teacher channels for nickel-dime and kd. Another choice is labelled as its own arm, e.g. "
                        "sdakd+teacher-init")
    p.add_argument("--dime-mode", dest="dime_mode", choices=DIME_MODES,
                   help="nickel-dime's DiME loss: paired = Eq. 1 for the same z; global-moments-ext (default) = a "
                        "ganforge extension matching the teacher's precomputed embedding moments")
    p.add_argument("--eval-metric", dest="eval_metric",
                   help="model selection metric (SDAKD Sec. 4.2), e.g. fid@classifier-mnist; auto (default): "
                        "fid@classifier-mnist when the data are digits in that classifier's range; none: no selection")
    p.add_argument("--teacher-preset", help="stage 1 preset when no --teacher is given (default tiny)")
    p.add_argument("--teacher-kimg", type=float, help="stage 1 length when no --teacher is given (default 20)")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    p.set_defaults(func=run)


def resolve_config(args: argparse.Namespace) -> CompressConfig:
    """Flags, then key=value overrides; every check's ValueError becomes a ConfigError (one line, exit 2)."""
    return apply_args(CompressConfig(out=args.out, teacher=args.teacher or ""), args,
                      ("method", "fraction", "kimg", "data", "batch_size", "seed", "device", "init", "eval_metric"))


def apply_args(cfg: CompressConfig, args: argparse.Namespace, keys: tuple[str, ...]) -> CompressConfig:
    """The given flags among `keys` (and --dime-mode), then key=value overrides, then the config's checks."""
    try:
        for key in keys:
            value = getattr(args, key, None)
            if value is not None:
                setattr(cfg, key, value)
        if getattr(args, "dime_mode", None) is not None:
            cfg.nickel.dime_mode = args.dime_mode
        apply_overrides(cfg, args.overrides)
        validate(cfg)
    except ConfigError:
        raise
    except ValueError as e:
        raise ConfigError(str(e)) from None
    return cfg


def train_teacher(args: argparse.Namespace, cfg: CompressConfig) -> str:
    """SDAKD stage 1: an ordinary `ganforge train` run in <out>/teacher."""
    from ganforge.training import Trainer, get_preset

    preset = args.teacher_preset or "tiny"
    tcfg = get_preset(preset)
    tcfg.out = str(Path(cfg.out) / "teacher")
    tcfg.kimg = 20.0 if args.teacher_kimg is None else args.teacher_kimg
    tcfg.seed = cfg.seed
    if cfg.data:
        tcfg.data = cfg.data
    print(f"stage 1: training the teacher ({preset}, {tcfg.kimg} kimg) in {tcfg.out}")
    return str(Trainer(tcfg, overwrite=args.overwrite).train())


def run(args: argparse.Namespace) -> int:
    if args.resume and (args.teacher or args.overwrite):
        raise ConfigError("--resume continues a run with its own teacher; drop --teacher and --overwrite")
    if (args.resume and resumed_kind(Path(args.resume)) == "sr") or (args.teacher and is_sr_teacher(args.teacher)):
        return run_sr(args)
    if args.resume:
        cfg = resolve_resume_config(args)
    else:
        if args.teacher_d or any(o.startswith("sr.") for o in args.overrides):
            raise ConfigError("--teacher-d and sr.* settings apply to super-resolution teachers only; --teacher "
                              f"{args.teacher or '(none: stage 1 trains a GAN)'} is not one")
        if not args.out:
            raise ConfigError("--out is required (the student run directory)")
        cfg = resolve_config(args)
    if args.dry_run:
        print(json.dumps(to_dict(cfg), indent=1))
        return 0
    from ganforge.compress.runner import CompressRunner, claim_student_dir
    from ganforge.compress.student import feature_widths

    if args.resume:
        runner = CompressRunner(cfg, resume=True)
        print(f"{runner.arm}: continuing {cfg.out} at {runner.cur_nimg / 1000:g} of {runner.total_kimg:g} kimg")
    else:
        lock = claim_student_dir(Path(cfg.out), cfg.teacher, args.overwrite)  # before stage 1 spends its time
        if not cfg.teacher:
            cfg.teacher = train_teacher(args, cfg)
        runner = CompressRunner(cfg, overwrite=args.overwrite)
        lock.release()  # the runner holds its own claim (re-entrant in one process)
    print(f"{arm_name(cfg)}: init {cfg.init}; model selection: {cfg.eval_metric or 'none'} ({runner.selection_note})")
    run_dir = runner.train()
    best = f"\n  selected:    {run_dir / 'best'} ({runner.best})" if runner.best else ""
    widths = [w for _, w in feature_widths(runner.G_S)]  # stage (R3GAN) or synthesis block (StyleGAN2) channels
    print(f"student run: {run_dir} ({runner.arm}, C={cfg.fraction}, widths {widths})\n"
          f"  generator:   {run_dir / 'generator.safetensors'}{best}\n"
          f"  report:      ganforge report {cfg.teacher} {run_dir}")
    return 0


GAN_ONLY = {"init": "--init", "dime_mode": "--dime-mode", "eval_metric": "--eval-metric"}
# flags that pick a run's identity: a resumed GAN compression run keeps its own (compress.json)
RUN_FLAGS = {"out": "--out", "method": "--method", "fraction": "--fraction", "data": "--data",
             "batch_size": "--batch-size", "seed": "--seed", "teacher_d": "--teacher-d",
             "teacher_preset": "--teacher-preset", "teacher_kimg": "--teacher-kimg", **GAN_ONLY}


def resumed_kind(run_dir: Path) -> str:
    """"gan" or "sr": which compression run --resume names; anything else is one line saying what it is."""
    from ganforge.cli.train import _saved_config

    saved = _saved_config(run_dir / "config.json", "--resume")
    if saved.get("task") == "sr" and (saved.get("sr") or {}).get("distill", {}).get("method", "none") != "none":
        return "sr"
    if saved.get("task") != "sr" and (run_dir / "compress.json").is_file():
        return "gan"
    raise ConfigError(f"--resume {run_dir}: not a compression run (no compress.json, and not a super-resolution "
                      "compression run); training runs resume with `ganforge train --resume`")


def resolve_resume_config(args: argparse.Namespace) -> CompressConfig:
    """The GAN compression run's own config (compress.json), then --kimg, --device and key=value overrides; the
    runner refuses a change of anything its checkpoints were trained with (compress.resume.check_resumable)."""
    from ganforge.compress.resume import resume_config

    given = [flag for key, flag in RUN_FLAGS.items() if getattr(args, key, None) is not None]
    if given:
        raise ConfigError(f"--resume continues {args.resume} with its own settings; drop {', '.join(given)} (only "
                          "--kimg, --device and key=value overrides of its length and cadence apply)")
    return apply_args(resume_config(Path(args.resume)), args, ("kimg", "device"))


def resolve_sr_config(args: argparse.Namespace):
    """The SR student's TrainConfig: the teacher's recipe at width C (compress.sr_distill.sr_compress_config), or
    the run's saved config with --resume; then the flags and key=value overrides of training config keys."""
    from ganforge.cli.train import _saved_config
    from ganforge.compress.sr_distill import sr_compress_config
    from ganforge.training.overrides import update_from_dict
    from ganforge.training.presets import get_preset

    given = [flag for key, flag in GAN_ONLY.items() if getattr(args, key, None) is not None]
    if given:
        raise ConfigError(f"{', '.join(given)}: GAN compression options; a super-resolution student starts from "
                          "random weights and is scored by PSNR / SSIM / LPIPS (drop the option)")
    if args.resume:  # run() checked that it is a super-resolution compression run (resumed_kind)
        saved = _saved_config(Path(args.resume) / "config.json", "--resume")
        cfg = update_from_dict(get_preset(saved.get("preset") or "sr-tiny"), saved)
        cfg.out = args.resume
    else:
        if not args.out:
            raise ConfigError("--out is required (the student run directory)")
        cfg = sr_compress_config(args.teacher, args.method or CompressConfig.method,
                                 CompressConfig.fraction if args.fraction is None else args.fraction, args.out,
                                 args.teacher_d or "")
        cfg.kimg = CompressConfig.kimg
    for key in ("kimg", "data", "batch_size", "seed", "device"):
        value = getattr(args, key, None)
        if value is not None:
            setattr(cfg, key, value)
    return apply_overrides(cfg, args.overrides)


def _lpips(scores: dict) -> str:
    """The LPIPS part of the summary line; empty when LPIPS was left out (its weights are not installed)."""
    return f" LPIPS {scores['lpips']:.4f}" if "lpips" in scores else ""


def run_sr(args: argparse.Namespace) -> int:
    """`ganforge compress` on a super-resolution teacher: one task=sr Trainer run, then sr_eval.json."""
    from ganforge.compress.sr_distill import EVAL_FILE, compress_sr
    from ganforge.training.config import to_dict as train_dict

    cfg = resolve_sr_config(args)
    if args.dry_run:
        print(json.dumps(train_dict(cfg), indent=1))
        return 0
    d = cfg.sr.distill
    run_dir, result = compress_sr(cfg, resume=bool(args.resume), overwrite=args.overwrite)
    if not result:  # another process of a multi-process run: rank 0 evaluates and prints
        return 0
    s, t = result["student"], result["teacher"]
    print(f"{d.method} SR student (C={d.fraction}, num_feat {cfg.sr.net.num_feat}, D num_feat "
          f"{cfg.sr.disc.num_feat}): {run_dir}\n"
          f"  held-out pairs ({result['pairs']}): student PSNR {s['psnr']:.2f} SSIM {s['ssim']:.4f}{_lpips(s)}; "
          f"teacher PSNR {t['psnr']:.2f} SSIM {t['ssim']:.4f}{_lpips(t)} ({run_dir / EVAL_FILE})\n"
          f"  upscale:     ganforge upscale IMAGE OUT.png --weights {run_dir}\n"
          f"  report:      ganforge report {d.teacher} {run_dir}")
    return 0
