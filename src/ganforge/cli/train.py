"""`ganforge train`: the embedded default with no arguments, or any preset/data/overrides; --resume continues a run
(also a `ganforge import` directory); --init-from CHECKPOINT --sd fine-tunes with self-distillation (SD-GAN
Sec. 4.1)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ganforge.cli.args import finite_float, non_negative_int, positive_int
from ganforge.distill.self_distill import DISTANCES
from ganforge.training import Trainer, get_preset
from ganforge.training import checkpoint as ckpt
from ganforge.training.config import TrainConfig, to_dict
from ganforge.training.finetune import checkpoint_net, overridden_burnin, skip_burnin
from ganforge.training.overrides import ConfigError, apply_overrides, update_from_dict

# ~8 minutes on a 2-core AVX2 CPU; ends with recognisable digits of every class (docs/time_to_quality.md)
# The preset brings its data (mnist5k) and length (kimg). The demo draws the digit it is asked for: class-conditional
# with PacGAN packs of one class reaches 88% confident digits in 10 CPU minutes where the unconditional model
# reaches 60% (docs/time_to_quality.md).
DEFAULT_DEMO = {"preset": "tiny", "out": "runs/demo", "conditional": True, "kimg": 120}  # ~9 min on 2 cores


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a GAN (no arguments: the demo, tiny preset on mnist5k, ~8 CPU minutes)",
                       description="Train R3GAN-style GANs. Extra key=value pairs override any config key, e.g. "
                                   "schedule.lr_end=5e-5 net.widths=[64,64,64,64] loss.r2=false.")
    p.add_argument("--preset", help="tiny | tiny-wide | tiny-wide-d128 | tiny-g96-d128 | tiny-dwide | small | "
                                     "stacked-mnist | cifar10 | ffhq256 | imagenet32; StyleGAN2-ADA: sg2-cpu | "
                                     "sg2-cpu-rpgan | sg2-cifar | sg2-paper256 | sg2-auto[-RES]; "
                                     "super-resolution (task=sr): sr-tiny-esrnet, sr-tiny | realesrnet-x4plus, "
                                     "realesrgan-x4plus")
    p.add_argument("--data", help="built-in name (mnist5k, stacked-mnist, digits, fashion-mnist; task=sr: photos) "
                                   "or a path")
    p.add_argument("--out", help="run directory")
    p.add_argument("--kimg", type=finite_float, help="train until this many thousand images")
    p.add_argument("--resolution", type=positive_int, dest="data_resolution", metavar="N",
                   help="resize every image of an image folder or zip to NxN (Lanczos) when loading (data_resolution)")
    p.add_argument("--batch-size", type=positive_int, dest="batch_size")
    p.add_argument("--seed", type=non_negative_int)
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N | mps")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"])
    p.add_argument("--cond", action="store_true", help="class-conditional training from the data's labels")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue the run in RUN_DIR from its latest checkpoint: its config, counters and schedules "
                        "go on, --kimg is the total. A `ganforge import` directory continues from the snapshot's "
                        "G, G_ema and D with fresh optimiser states, at the image count and ADA p the file records "
                        "(--preset picks its training recipe; --kimg or --preset gives the length)")
    p.add_argument("--overwrite", action="store_true",
                   help="start a new run in a --out directory that holds an old run, deleting its checkpoints and logs")
    p.add_argument("--init-from", metavar="CHECKPOINT", dest="init_from",
                   help="initialise G, G_ema and D from a trained checkpoint, run directory or official .pkl and "
                        "start a new run in --out (fine-tuning: counters start at 0, the burn-in schedules at their "
                        "end values: schedule.burnin_kimg=0, augment.burnin_kimg=0 and schedule.ema_rampup=0 unless "
                        "overridden; the source is never written to)")
    p.add_argument("--sd", action="store_true",
                   help="SD-GAN self-distillation: L_G += sd.alpha * L_SD(T(G(z)), T(G_ema(z))) (self_distill=true)")
    p.add_argument("--sd-distance", dest="sd_distance", choices=DISTANCES,
                   help="L_SD distance (sd.distance, default lpips-vgg); implies --sd")
    p.add_argument("--sd-alpha", dest="sd_alpha", type=finite_float, metavar="ALPHA",
                   help="L_SD weight (sd.alpha, default 1; 0 only logs L_SD); implies --sd")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    p.set_defaults(func=run)


def resolve_config(args: argparse.Namespace) -> TrainConfig:
    """Preset, then CLI flags, then key=value overrides; --resume starts from the run's saved config."""
    imported = None  # state.json of a `ganforge import` directory being resumed
    if args.resume:
        if Path(args.resume).suffix.lower() == ".pkl":
            raise ConfigError(f"--resume takes a run directory, and {args.resume} is a snapshot file: fine-tune it "
                              f"into a new run with --init-from {args.resume} --out DIR, or import it with "
                              f"`ganforge import {args.resume} DIR` and continue its training with --resume DIR")
        saved = _saved_config(Path(args.resume) / "config.json", "--resume")
        imported = ckpt.import_state(Path(args.resume))  # `ganforge import`: presets allowed
        if args.preset and args.preset != saved.get("preset") and imported is None:
            raise ConfigError(f"--resume {args.resume} continues a '{saved.get('preset')}' run but --preset "
                              f"{args.preset} was given; drop --preset, or start a new run with --out")
        if args.overwrite:
            raise ConfigError("--resume continues a run and --overwrite deletes it; give only one of them")
        cfg = _imported_recipe(args, saved) if imported is not None else update_from_dict(
            get_preset(saved.get("preset", "tiny")), saved)
        cfg.out = args.resume
    else:
        base = DEFAULT_DEMO if _bare(args) else {}
        cfg = get_preset(args.preset or base.get("preset", "tiny"))
        if "out" in base:
            cfg.out, cfg.conditional, cfg.kimg = base["out"], base["conditional"], base["kimg"]
    for key in ("data", "out", "kimg", "batch_size", "seed", "device", "precision", "init_from", "data_resolution"):
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
        if Path(args.init_from).exists():  # a missing one fails in Trainer.init_from, naming what it looked for
            cfg.net = checkpoint_net(args.init_from)  # the architecture comes from the checkpoint, not the preset
        skip_burnin(cfg)  # what Trainer does too (training.finetune); shown here by --dry-run
    elif imported is not None and not imported.get("cur_nimg"):
        skip_burnin(cfg)  # an import without an image count: as Trainer does (CheckpointMixin._continue_import)
    # schedule.burnin_kimg=... / augment.burnin_kimg=... still override that (run() passes them on as keep_burnin);
    # every value is validated again afterwards
    return apply_overrides(cfg, args.overrides)


def _imported_recipe(args: argparse.Namespace, saved: dict) -> TrainConfig:
    """The config resuming a `ganforge import` directory: its config.json (the snapshot's network, data and ADA
    settings over ganforge's default recipe), or with --preset that preset's recipe around the snapshot's network
    and data. A length must be given: the import's kimg is where the snapshot stopped."""
    if args.kimg is None and not args.preset:
        raise ConfigError(f"--resume {args.resume}: an imported snapshot has no training length of its own; give "
                          "--kimg TOTAL (thousands of images in all, the snapshot's own count included) or a "
                          "--preset with its recipe and length")
    if not args.preset:
        return update_from_dict(get_preset(saved.get("preset", "tiny")), saved)
    cfg = get_preset(args.preset)
    cfg.net = checkpoint_net(args.resume)
    cfg.data, cfg.xflip = saved.get("data", cfg.data), bool(saved.get("xflip", False))
    cfg.conditional = cfg.net.num_classes > 0
    return cfg


def _saved_config(path: Path, flag: str) -> dict:
    """A run's config.json as a dict, or a one-line error naming the file."""
    try:
        saved = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{flag} {path.parent}: no config.json there; is it a ganforge run directory?") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: not readable JSON ({e}); restore it from a checkpoint's state.json "
                          "(its \"config\" entry)") from None
    if not isinstance(saved, dict):
        raise ConfigError(f"{path}: not a JSON object of config keys")
    return saved


def _bare(args: argparse.Namespace) -> bool:
    """`ganforge train` with nothing that picks a run: the embedded demo."""
    return not any(getattr(args, k) for k in ("preset", "data", "out", "kimg", "resume")) and not args.overrides


def run(args: argparse.Namespace) -> int:
    demo_dir = Path(DEFAULT_DEMO["out"])
    if _bare(args) and not args.overwrite and not args.dry_run and (demo_dir / "config.json").is_file():
        args.resume = str(demo_dir)  # a second `ganforge train` continues (or, when finished, re-reports) the demo
        print(f"continuing the demo run in {demo_dir} (--overwrite starts it afresh)")
    cfg = resolve_config(args)
    if args.dry_run:
        print(json.dumps(to_dict(cfg), indent=1))
        return 0
    trainer = Trainer(cfg, resume=bool(args.resume), overwrite=args.overwrite,
                      keep_burnin=overridden_burnin(args.overrides))
    run_dir = trainer.train()
    if trainer.dist.is_main and cfg.task == "sr":
        grids = sorted((run_dir / "samples").glob("grid-*.png"))
        print(f"run directory: {run_dir}\n  samples:     {grids[-1] if grids else run_dir / 'samples'} (bicubic, SR, "
              f"HR)\n  checkpoints: {', '.join(p.name for p in sorted(run_dir.glob('ckpt-*')))}\n"
              f"  generator:   {run_dir / 'generator.safetensors'}\n"
              f"  upscale:     ganforge upscale IMAGE OUT.png --weights {run_dir / 'generator.safetensors'}")
    elif trainer.dist.is_main:
        grids = sorted((run_dir / "samples").glob("grid-*.png"))
        print(f"run directory: {run_dir}\n  samples:     {grids[-1] if grids else run_dir / 'samples'}\n"
              f"  checkpoints: {', '.join(p.name for p in sorted(run_dir.glob('ckpt-*')))}\n"
              f"  generator:   {run_dir / 'generator.safetensors'}\n"
              f"  sample more: ganforge generate {run_dir} --seeds 0-63 --grid grid.png")
        if cfg.data in DIGIT_DATA:
            print(digit_summary(trainer))
    return 0


DIGIT_DATA = ("mnist5k", "stacked-mnist")


def digit_summary(trainer: Trainer, num: int = 1000) -> str:
    """One line saying whether the EMA generator draws digits, by the shipped classifier (docs/metrics.md)."""
    from ganforge.metrics import evaluate_generator
    from ganforge.metrics.features.classifier_mnist import classifier_info

    r = evaluate_generator(trainer.G_ema, trainer.data, "confident", num=num, seed=1, device=trainer.device,
                           disk_cache=False)
    per = "digits" if trainer.G_ema.img_channels == 1 else "channel digits"
    real = classifier_info().get("digit_stats", {}).get("test_confident_rate")
    ref = f"; held-out real digits score {100 * real:.0f}%" if real else ""
    asked = (f"; {100 * r['confident_label']:.1f}% are confident digits of the class asked for"
             if "confident_label" in r else "")
    return (f"  quality:     {100 * r['confident']:.1f}% of {num} samples are confident {per}, "
            f"{int(r['confident_classes'])} of 10 classes present (the commonest holds "
            f"{100 * r['confident_top_class']:.0f}% of them){asked}{ref}")
