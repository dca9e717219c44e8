"""`ganforge generate`: images for fixed seeds from a run, checkpoint or generator file."""

from __future__ import annotations

import argparse
from pathlib import Path

from ganforge.cli.args import image_file, non_negative_int
from ganforge.errors import UserError
from ganforge.limits import hint, limit
from ganforge.training.load import generate, load_generator
from ganforge.utils.grid import image_grid, save_grid, save_png

CHUNK = 256  # seeds generated (and written) at a time, so --outdir never holds all images in memory


def parse_seeds(text: str) -> list[int]:
    """'0-63', '1,5,9' or '0-3,10' -> list of ints; the count is checked before the list is built."""
    ranges = []
    for part in text.split(","):
        lo, sep, hi = part.strip().partition("-")
        try:
            a, b = int(lo), int(hi if sep else lo)
        except ValueError:
            raise UserError(f"--seeds {text}: '{part}' is not a seed or a range like 0-63") from None
        if a < 0 or b < a:
            raise UserError(f"--seeds {text}: '{part}' is empty or negative; write ranges low-high, e.g. 0-63")
        ranges.append((a, b))
    count = sum(b - a + 1 for a, b in ranges)
    if count > limit("MAX_SEEDS"):
        raise UserError(f"--seeds {text}: {count} seeds; generate fewer per call or {hint('MAX_SEEDS')}")
    return [s for a, b in ranges for s in range(a, b + 1)]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate images for fixed seeds")
    p.add_argument("checkpoint", help="run directory, checkpoint directory, generator .safetensors or official "
                                      "snapshot .pkl (imported on the fly)")
    p.add_argument("--seeds", default="0-63", help="e.g. 0-63 or 1,5,9")
    p.add_argument("--class", dest="label", type=non_negative_int, help="class label for conditional generators")
    p.add_argument("--grid", help="write one grid image here (.png, .jpg, .webp, ...)")
    p.add_argument("--outdir", help="write one PNG per seed here")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def _check_grid_path(path: str, count: int) -> None:
    try:
        image_file(path)  # the check every image-writing flag uses, as one error line rather than a usage error
    except argparse.ArgumentTypeError as e:
        raise UserError(f"--grid {e}") from None
    if count > limit("MAX_GRID_IMAGES"):
        raise UserError(f"--grid with {count} seeds; use --outdir for many images or {hint('MAX_GRID_IMAGES')}")


def run(args: argparse.Namespace) -> int:
    seeds = parse_seeds(args.seeds)
    if not args.grid and not args.outdir:
        args.grid = "grid.png"
    if args.grid:
        _check_grid_path(args.grid, len(seeds))
    G = load_generator(args.checkpoint, device=args.device)
    if args.label is not None and not 0 <= args.label < max(G.num_classes, 1):
        raise UserError(f"--class {args.label}: this generator has {G.num_classes} classes (0..{G.num_classes - 1})"
                        if G.num_classes else "--class given but this generator is unconditional; drop --class")
    if args.grid:
        save_grid(generate(G, seeds, args.label, device=args.device), args.grid)
        print(f"wrote {args.grid}")
    if args.outdir:
        out = Path(args.outdir)
        for i in range(0, len(seeds), CHUNK):
            chunk = seeds[i:i + CHUNK]
            for seed, img in zip(chunk, generate(G, chunk, args.label, device=args.device)):
                save_png(image_grid(img[None], 1), out / f"seed{seed:04d}.png")
        print(f"wrote {len(seeds)} images to {out}")
    return 0
