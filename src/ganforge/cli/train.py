"""`ganforge train`: the embedded default with no arguments, or any preset/data/overrides; --resume continues;
--init-from CHECKPOINT --sd fine-tunes with self-distillation (SD-GAN Sec. 4.1)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ganforge.distill.self_distill import DISTANCES
from ganforge.training import Trainer, get_preset
from ganforge.training.config import TrainConfig, to_dict
from ganforge.training.overrides import ConfigError, apply_overrides, update_from_dict

DEFAULT_DEMO = {"preset": "tiny", "data": "stacked-mnist", "out": "runs/demo", "kimg": 8.0}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a GAN (no arguments: tiny preset on stacked-mnist for a few CPU minutes)",
                       description="Train R3GAN-style GANs. Extra key=value pairs override any config key, e.g. "
                                   "schedule.lr_end=5e-5 net.widths=[64,64,64,64] loss.r2=false.")
    p.add_argument("--preset", help="tiny | small | stacked-mnist | cifar10 | ffhq256 | imagenet32")
    p.add_argument("--data", help="built-in name (mnist5k, stacked-mnist, digits, fashion-mnist) or a path")
    p.add_argument("--out", help="run directory")
    p.add_argument("--kimg", type=float, help="train until this many thousand images")
    p.add_argument("--batch-size", type=int, dest="batch_size")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N | mps")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"])
    p.add_argument("--cond", action="store_true", help="class-conditional training from the data's labels")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its latest checkpoint")
    p.add_argument("--init-from", metavar="CHECKPOINT", dest="init_from",
                   help="initialise G, G_ema and D from a trained checkpoint (fine-tuning; the burn-in schedules "
                        "start at their end values: schedule.burnin_kimg=0 unless overridden)")
    p.add_argument("--sd", action="store_true",
                   help="SD-GAN self-distillation: L_G += sd.alpha * L_SD(T(G(z)), T(G_ema(z))) (self_distill=true)")
    p.add_argument("--sd-distance", dest="sd_distance", choices=DISTANCES,
                   help="L_SD distance (sd.distance, default lpips-vgg); implies --sd")
    p.add_argument("--sd-alpha", dest="sd_alpha", type=float, metavar="ALPHA",
                   help="L_SD weight (sd.alpha, default 1; 0 only logs L_SD); implies --sd")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    p.set_defaults(func=run)


def resolve_config(args: argparse.Namespace) -> TrainConfig:
    """Preset, then CLI flags, then key=value overrides; --resume starts from the run's saved config."""
    if args.resume:
        path = Path(args.resume) / "config.json"
        if not path.exists():
            raise FileNotFoundError(f"--resume {args.resume}: no config.json there; is it a ganforge run directory?")
        saved = json.loads(path.read_text())
        cfg = update_from_dict(get_preset(saved.get("preset", "tiny")), saved)
        cfg.out = args.resume
    else:
        bare = not any(getattr(args, k) for k in ("preset", "data", "out", "kimg")) and not args.overrides
        base = DEFAULT_DEMO if bare else {}
        cfg = get_preset(args.preset or base.get("preset", "tiny"))
        for k in ("data", "out", "kimg"):
            if k in base:
                setattr(cfg, k, base[k])
    for key in ("data", "out", "kimg", "batch_size", "seed", "device", "precision", "init_from"):
        value = getattr(args, key, None)
        if value is not None:
            setattr(cfg, key, value)
    if args.cond:
        cfg.conditional = True
    if args.sd or args.sd_distance or args.sd_alpha is not None:
        cfg.self_distill = True
    if args.sd_distance:
        cfg.sd.distance = args.sd_distance
    if args.sd_alpha is not None:
        cfg.sd.alpha = args.sd_alpha
    if args.init_from and not args.resume:
        # fine-tuning continues with the end-of-schedule values the checkpoint was trained with (lr, gamma, beta2,
        # EMA half-life); a restarted burn-in would start the EMA half-life at 0, making G_ema = G and L_SD = 0
        cfg.schedule.burnin_kimg = 0.0
    cfg = apply_overrides(cfg, args.overrides)  # schedule.burnin_kimg=... still overrides the line above
    if cfg.self_distill:
        try:
            cfg.sd.__post_init__()  # re-validate after flags and overrides
        except ValueError as e:
            raise ConfigError(f"sd: {e}") from None
    return cfg


def run(args: argparse.Namespace) -> int:
    cfg = resolve_config(args)
    if args.dry_run:
        print(json.dumps(to_dict(cfg), indent=1))
        return 0
    trainer = Trainer(cfg, resume=bool(args.resume))
    run_dir = trainer.train()
    if trainer.dist.is_main:
        print(f"run directory: {run_dir}\n  samples:     {run_dir / 'samples'}\n"
              f"  checkpoints: {', '.join(p.name for p in sorted(run_dir.glob('ckpt-*')))}\n"
              f"  generator:   {run_dir / 'generator.safetensors'}\n"
              f"  sample more: ganforge generate {run_dir} --seeds 0-63 --grid grid.png")
    return 0
