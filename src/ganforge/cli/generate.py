"""`ganforge generate`: images for fixed seeds from a run, checkpoint or generator file."""

from __future__ import annotations

import argparse
from pathlib import Path

from ganforge.training.load import generate, load_generator
from ganforge.utils.grid import image_grid, save_grid, save_png


def parse_seeds(text: str) -> list[int]:
    """'0-63', '1,5,9' or '0-3,10' -> list of ints."""
    seeds: list[int] = []
    for part in text.split(","):
        lo, sep, hi = part.strip().partition("-")
        seeds += list(range(int(lo), int(hi) + 1)) if sep else [int(lo)]
    return seeds


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate images for fixed seeds")
    p.add_argument("checkpoint", help="run directory, checkpoint directory or generator .safetensors")
    p.add_argument("--seeds", default="0-63", help="e.g. 0-63 or 1,5,9")
    p.add_argument("--class", dest="label", type=int, help="class label for conditional generators")
    p.add_argument("--grid", help="write one grid PNG here")
    p.add_argument("--outdir", help="write one PNG per seed here")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    G = load_generator(args.checkpoint, device=args.device)
    if args.label is not None and not 0 <= args.label < max(G.num_classes, 1):
        raise SystemExit(f"--class {args.label}: this generator has {G.num_classes} classes"
                         if G.num_classes else "--class given but this generator is unconditional")
    seeds = parse_seeds(args.seeds)
    images = generate(G, seeds, args.label, device=args.device)
    if not args.grid and not args.outdir:
        args.grid = "grid.png"
    if args.grid:
        save_grid(images, args.grid)
        print(f"wrote {args.grid}")
    if args.outdir:
        out = Path(args.outdir)
        for seed, img in zip(seeds, images):
            save_png(image_grid(img[None], 1), out / f"seed{seed:04d}.png")
        print(f"wrote {len(seeds)} images to {out}")
    return 0
