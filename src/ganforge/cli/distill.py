"""`ganforge distill teacher-stats CHECKPOINT`: precompute a teacher's DiME "global features" once, for reuse."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ganforge.cli.args import (
    check_sample_memory,
    device,
    existing_path,
    name_list,
    non_negative_int,
    output_with_suffix,
    positive_int,
)
from ganforge.compress.embeddings import build_embedder
from ganforge.compress.teacher_stats import teacher_digest, teacher_stats_for
from ganforge.errors import UserError
from ganforge.training.load import load_generator
from ganforge.training.trainer import resolve_device


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("distill", help="distillation utilities (teacher-stats: DiME global features)")
    inner = p.add_subparsers(dest="distill_command", required=True)
    t = inner.add_parser("teacher-stats", help="mean / second moment of phi(G_T(z)) over many samples",
                         description="NICKEL & DiME Sec. 4.5: statistics of the teacher's embeddings over NUM "
                                     "samples, written to --out and reused by `ganforge compress --method "
                                     "nickel-dime nickel.teacher_stats=FILE` (recomputed only if they mismatch).")
    t.add_argument("checkpoint", type=existing_path,
                   help="teacher run directory, checkpoint directory or generator .safetensors")
    t.add_argument("--embed", type=name_list, default=["dino", "clip"],
                   help="comma list: dino, clip or registry extractors (vgg16, ...)")
    t.add_argument("--num", type=positive_int, default=20_000, help="teacher samples (paper: 20,000)")
    t.add_argument("--batch-size", type=positive_int, default=256)
    t.add_argument("--seed", type=non_negative_int, default=0)
    t.add_argument("--embed-size", type=positive_int, help="input side of the embedders (default: each one's own)")
    t.add_argument("--dino-weights", type=existing_path, help="DINO ViT-S/16 weights file")
    t.add_argument("--clip-weights", type=existing_path, help="CLIP weights file or directory")
    t.add_argument("--device", type=device, default="auto")
    t.add_argument("--out", required=True, type=output_with_suffix(lambda: {".safetensors"}, ".safetensors"),
                   help="statistics file (.safetensors)")
    t.set_defaults(func=run)


def _check_existing_stats(path: str) -> None:
    """An existing --out is reused or replaced only if it is a teacher-statistics file: never overwrite another
    file, and a damaged one is named instead of failing inside the safetensors reader."""
    from safetensors import safe_open

    from ganforge.compress.teacher_stats import STATS_FORMAT

    if not Path(path).exists():
        return
    try:
        with safe_open(path, framework="pt") as f:
            stored = f.metadata() or {}
        fmt = stored.get("format")
        meta = json.loads(stored.get("meta", "null")) if fmt == STATS_FORMAT else None
    except Exception as e:  # the safetensors reader raises its own error types for damaged files
        raise UserError(f"--out {path}: exists but is damaged ({e.__class__.__name__}: {e}); delete it or choose "
                        "another path") from None
    if fmt != STATS_FORMAT or not isinstance(meta, dict):
        raise UserError(f"--out {path}: exists and is not a teacher-statistics file; delete it or choose another "
                        "path")


def _check_embedders(names: list[str]) -> None:
    from ganforge.metrics import available_extractors

    known = ["dino", "clip", *available_extractors()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UserError(f"--embed: unknown embedder(s) {', '.join(unknown)}; choose from {', '.join(known)}")


def run(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    _check_embedders(args.embed)
    _check_existing_stats(args.out)
    G = load_generator(args.checkpoint, device=device)
    check_sample_memory(f"--num {args.num} / --batch-size {args.batch_size}", G, args.batch_size, args.num)
    names = args.embed
    weights = {"dino": args.dino_weights, "clip": args.clip_weights}
    embedders = {n: build_embedder(n, weights.get(n), args.embed_size).to(device) for n in names}
    stats, reused = teacher_stats_for(G, embedders, args.out, args.num, args.batch_size, args.seed, device)
    dims = ", ".join(f"{n}: {s['mean'].numel()}-d" for n, s in stats.items())
    verb = "reused" if reused else "wrote"
    print(f"{verb} {args.out} ({args.num} samples of teacher {teacher_digest(G)}; {dims})")
    return 0
