"""`ganforge distill teacher-stats CHECKPOINT`: precompute a teacher's DiME "global features" once, for reuse."""

from __future__ import annotations

import argparse

from ganforge.compress.embeddings import build_embedder
from ganforge.compress.teacher_stats import teacher_digest, teacher_stats_for
from ganforge.training.load import load_generator
from ganforge.training.trainer import resolve_device


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("distill", help="distillation utilities (teacher-stats: DiME global features)")
    inner = p.add_subparsers(dest="distill_command", required=True)
    t = inner.add_parser("teacher-stats", help="mean / second moment of phi(G_T(z)) over many samples",
                         description="NICKEL & DiME Sec. 4.5: statistics of the teacher's embeddings over NUM "
                                     "samples, written to --out and reused by `ganforge compress --method "
                                     "nickel-dime nickel.teacher_stats=FILE` (recomputed only if they mismatch).")
    t.add_argument("checkpoint", help="teacher run directory, checkpoint directory or generator .safetensors")
    t.add_argument("--embed", default="dino,clip", help="comma list: dino, clip or registry extractors (vgg16, ...)")
    t.add_argument("--num", type=int, default=20_000, help="teacher samples (paper: 20,000)")
    t.add_argument("--batch-size", type=int, default=256)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--embed-size", type=int, help="input side of the embedders (default: each one's own)")
    t.add_argument("--dino-weights", help="DINO ViT-S/16 weights file")
    t.add_argument("--clip-weights", help="CLIP weights file or directory")
    t.add_argument("--device", default="auto")
    t.add_argument("--out", required=True, help="statistics file (.safetensors)")
    t.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    G = load_generator(args.checkpoint, device=device)
    names = [n.strip() for n in args.embed.split(",") if n.strip()]
    weights = {"dino": args.dino_weights, "clip": args.clip_weights}
    embedders = {n: build_embedder(n, weights.get(n), args.embed_size).to(device) for n in names}
    stats, reused = teacher_stats_for(G, embedders, args.out, args.num, args.batch_size, args.seed, device)
    dims = ", ".join(f"{n}: {s['mean'].numel()}-d" for n, s in stats.items())
    verb = "reused" if reused else "wrote"
    print(f"{verb} {args.out} ({args.num} samples of teacher {teacher_digest(G)}; {dims})")
    return 0
