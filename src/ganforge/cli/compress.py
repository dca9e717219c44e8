"""`ganforge compress`: distil a trained teacher into a channel-fraction student (sdakd | nickel-dime | kd)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ganforge.compress.config import METHODS, CompressConfig, to_dict, validate
from ganforge.training.overrides import ConfigError, apply_overrides


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compress", help="GAN compression by distillation into a C-width student",
                       description="Distil --teacher into a student with every width times --fraction. Extra "
                                   "key=value pairs override any compress config key, e.g. sdakd.lambda2=0.2 "
                                   "sup.lpips_net=alexnet nickel.embeddings=[\"vgg16:20\"] nickel.dime_mode=paired. "
                                   "Without --teacher, stage 1 trains one first with `ganforge train`.")
    p.add_argument("--teacher", help="teacher run directory or checkpoint")
    p.add_argument("--method", choices=METHODS, default="sdakd")
    p.add_argument("--fraction", type=float, default=0.25, help="student width fraction C (e.g. 0.5, 0.25, 0.125)")
    p.add_argument("--out", required=True, help="student run directory")
    p.add_argument("--kimg", type=float, help="student training length, all stages together (default 10)")
    p.add_argument("--data", help="training data (default: the teacher's)")
    p.add_argument("--batch-size", type=int, dest="batch_size")
    p.add_argument("--seed", type=int)
    p.add_argument("--device")
    p.add_argument("--init", choices=["teacher", "random"], help="student init (default: teacher channels)")
    p.add_argument("--eval-metric", dest="eval_metric", help="model selection metric, e.g. fid@classifier-mnist")
    p.add_argument("--teacher-preset", default="tiny", help="stage 1 preset when no --teacher is given")
    p.add_argument("--teacher-kimg", type=float, default=20.0, help="stage 1 length when no --teacher is given")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    p.set_defaults(func=run)


def resolve_config(args: argparse.Namespace) -> CompressConfig:
    """Flags, then key=value overrides; every check's ValueError becomes a ConfigError (one line, exit 2)."""
    try:
        cfg = CompressConfig(method=args.method, fraction=args.fraction, out=args.out, teacher=args.teacher or "")
        for key in ("kimg", "data", "batch_size", "seed", "device", "init", "eval_metric"):
            value = getattr(args, key, None)
            if value is not None:
                setattr(cfg, key, value)
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

    tcfg = get_preset(args.teacher_preset)
    tcfg.out = str(Path(cfg.out) / "teacher")
    tcfg.kimg = args.teacher_kimg
    tcfg.seed = cfg.seed
    if cfg.data:
        tcfg.data = cfg.data
    print(f"stage 1: training the teacher ({args.teacher_preset}, {tcfg.kimg} kimg) in {tcfg.out}")
    return str(Trainer(tcfg).train())


def run(args: argparse.Namespace) -> int:
    cfg = resolve_config(args)
    if args.dry_run:
        print(json.dumps(to_dict(cfg), indent=1))
        return 0
    from ganforge.compress.runner import CompressRunner

    if not cfg.teacher:
        cfg.teacher = train_teacher(args, cfg)
    runner = CompressRunner(cfg)
    run_dir = runner.train()
    best = f"\n  selected:    {run_dir / 'best'} ({runner.best})" if runner.best else ""
    print(f"student run: {run_dir} ({cfg.method}, C={cfg.fraction}, widths {runner.G_S.widths})\n"
          f"  generator:   {run_dir / 'generator.safetensors'}{best}\n"
          f"  report:      ganforge report {cfg.teacher} {run_dir}")
    return 0
