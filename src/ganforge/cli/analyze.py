"""`ganforge analyze`: SD-GAN analyses of a run: trajectory variation (Table 3) and objective interplay (Fig. 6/8)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ganforge.cli.args import (
    check_sample_memory,
    device,
    existing_path,
    image_file,
    json_file,
    non_negative_int,
    positive_int,
    unit_fraction,
)
from ganforge.distill.trajectory import TRAJECTORY_DISTANCES
from ganforge.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="analyses of a run: trajectory variation, objective interplay",
                       description="SD-GAN analyses of a trained run.")
    kinds = p.add_subparsers(dest="analysis", required=True)

    t = kinds.add_parser("trajectory", help="LPIPS between samples of fixed latents at consecutive checkpoints "
                                            "from 20%% to 100%% of the run (SD-GAN Table 3)",
                         description="Average perceptual distance (and its std over latents) between the samples "
                                     "of fixed latents at consecutive checkpoints. Needs a run trained with "
                                     "keep_checkpoints=0 (keep all) and ~10 snapshots (snapshot_every_kimg).")
    t.add_argument("run_dir", type=existing_path)
    t.add_argument("--num", type=positive_int, default=480, help="fixed latents (paper: 480; at least 2)")
    t.add_argument("--start", type=unit_fraction, default=0.2, help="first checkpoint at this fraction of the run")
    t.add_argument("--distance", default="lpips-vgg", choices=TRAJECTORY_DISTANCES)
    t.add_argument("--live", action="store_true", help="use the trained generator G instead of G_ema")
    t.add_argument("--json", type=json_file, help="write the result (with per-latent averages) here")
    t.add_argument("--strip", type=image_file,
                   help="write a Fig. 7-style PNG: latents closest to the mean, one column per checkpoint")
    _common(t)
    t.set_defaults(func=run_trajectory)

    i = kinds.add_parser("interplay", help="G_ema samples ranked by L_SD(G, G_ema) and by D (SD-GAN Figs. 6, 8)",
                         description="Rank N samples by L_SD between G and G_ema and by the D logit of the G_ema "
                                     "sample; save the quadrant grid (top: large L_SD, right: high D).")
    i.add_argument("run_dir", type=existing_path, help="run directory (latest checkpoint) or checkpoint directory")
    i.add_argument("--out", type=image_file, default="interplay.png", help="grid PNG")
    i.add_argument("--num", type=positive_int, default=2000, help="latents (paper: 10,000)")
    i.add_argument("--band", type=positive_int,
                   help="samples per L_SD row before the D selection (default 2%% of --num)")
    i.add_argument("--per-quadrant", type=positive_int, default=4, dest="per_quadrant")
    i.add_argument("--distance", default="lpips-vgg", choices=TRAJECTORY_DISTANCES)
    i.add_argument("--json", type=json_file,
                   help="write L_SD / D values of the chosen samples and their correlation here")
    _common(i)
    i.set_defaults(func=run_interplay)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the latents")
    p.add_argument("--batch-size", type=positive_int, default=64, dest="batch_size")
    p.add_argument("--device", type=device, default="cpu")
    p.add_argument("--weights", type=existing_path,
                   help="LPIPS backbone weights file or directory (else the standard search)")


def _check_memory(checkpoint: str | Path, flag: str, images: int, latents: int) -> None:
    """Size of the samples the analysis holds, from the checkpoint's generator, before any is generated."""
    from ganforge.training.load import load_generator

    check_sample_memory(flag, load_generator(checkpoint), images, latents)


def run_trajectory(args: argparse.Namespace) -> int:
    from ganforge.distill.trajectory import (
        save_evolution_strip,
        select_checkpoints,
        trajectory_variation,
        write_json,
    )

    if args.num < 2:
        raise UserError(f"--num {args.num}: the spread over latents needs at least 2; use e.g. --num 480")
    last = select_checkpoints(args.run_dir, args.start)[-1]
    _check_memory(last, f"--num {args.num}", 2 * args.num, args.num)  # two checkpoints' samples at a time
    r = trajectory_variation(args.run_dir, num=args.num, start_fraction=args.start, distance=args.distance,
                             seed=args.seed, batch_size=args.batch_size, device=args.device, ema=not args.live,
                             weights=args.weights)
    print(f"trajectory variation ({r.distance}, {r.generator}, {r.num} latents, {len(r.checkpoints)} checkpoints "
          f"{r.kimg[0]:g}-{r.kimg[-1]:g} kimg): {r.mean:.4f} +- {r.std:.4f}")
    print("per consecutive pair: " + ", ".join(f"{k:g}: {v:.4f}" for k, v in zip(r.kimg[1:], r.pair_means)))
    if args.json:
        write_json(r, args.json)
        print(f"wrote {args.json}")
    if args.strip:
        save_evolution_strip(args.run_dir, r, args.strip, device=args.device)
        print(f"wrote {args.strip}")
    return 0


def run_interplay(args: argparse.Namespace) -> int:
    from ganforge.distill.interplay import interplay, save_interplay_grid

    band = args.band if args.band is not None else max(2 * args.per_quadrant, round(0.02 * args.num))
    if not args.per_quadrant <= band <= args.num // 2:
        raise UserError(f"--per-quadrant {args.per_quadrant}, --band {band}, --num {args.num}: need per-quadrant "
                        "<= band <= num / 2; raise --num or lower --band / --per-quadrant")
    _check_memory(args.run_dir, f"--num {args.num}", args.num, args.num)
    r = interplay(args.run_dir, num=args.num, band=args.band, per_quadrant=args.per_quadrant,
                  distance=args.distance, seed=args.seed, batch_size=args.batch_size, device=args.device,
                  weights=args.weights)
    s = r.summary()
    rho = s["spearman_l_sd_d"]
    print(f"{r.checkpoint}: {s['num']} latents, mean L_SD ({r.distance}) {s['l_sd_mean']:.4f}, mean D logit "
          f"{s['d_logit_mean']:+.3f}, Spearman(L_SD, D) {'n/a' if rho is None else f'{rho:+.3f}'}")
    print(f"wrote {save_interplay_grid(r, args.out)}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(s, indent=1))
        print(f"wrote {args.json}")
    return 0
