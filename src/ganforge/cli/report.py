"""`ganforge report CHECKPOINT...`: parameters, MACs, compression rate, per-stage split and CPU latency speed-ups;
for super-resolution weights, the same per LR input size."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ganforge.cli.args import (
    check_sample_memory,
    existing_path,
    int_range,
    json_file,
    non_negative_int,
    positive_int,
    positive_int_list,
)
from ganforge.compress.report import build_report, format_report, load_generators
from ganforge.compress.sr_cost import (
    DEFAULT_LR_SIZES,
    build_sr_report,
    format_sr_report,
    is_sr_weights,
    load_sr_generators,
)
from ganforge.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="params, MACs, compression rate and CPU latency of generators vs a teacher",
                       description="Profile generators (run dirs, checkpoints or generator files) or super-"
                                   "resolution weights (.pth / ganforge SR .safetensors). Ratios and speed-ups are "
                                   "relative to --teacher (default: the first CHECKPOINT).")
    p.add_argument("checkpoints", nargs="+", metavar="CHECKPOINT", type=existing_path)
    p.add_argument("--teacher", type=existing_path, help="reference generator (added to the list if not in it)")
    p.add_argument("--batch-sizes", type=positive_int_list, default=(1, 32),
                   help="latency batch sizes (default 1,32)")
    p.add_argument("--warmup", type=non_negative_int, default=3, help="untimed forward passes first")
    p.add_argument("--repeats", type=positive_int, default=10, help="timed passes; the median is reported")
    p.add_argument("--threads", type=int_range(1, 1024),
                   help="torch CPU threads for the timing (default: torch's current)")
    p.add_argument("--rounds", type=positive_int, default=1,
                   help="time the generators in turn this many times (shared CPUs)")
    p.add_argument("--lr-sizes", type=positive_int_list, default=DEFAULT_LR_SIZES,
                   help="SR weights only: LR input sides to profile at batch 1 (default 100,32: Real-ESRGAN's "
                        "400x400 training crops at x4, and a small size)")
    p.add_argument("--no-stages", action="store_true", help="omit the per-stage table")
    p.add_argument("--json", type=json_file, help="also write the numbers here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    paths = list(args.checkpoints)
    if args.teacher and args.teacher not in paths:
        paths.insert(0, args.teacher)
    sr = [is_sr_weights(p) for p in paths]
    if any(sr):
        if not all(sr):
            raise UserError("give either GAN generators or super-resolution weights, not both: their costs are "
                            "not comparable")
        nets = load_sr_generators(paths)
        rows_sr = build_sr_report(nets, args.teacher, args.lr_sizes, args.warmup, args.repeats, args.threads,
                                  args.rounds)
        print(format_sr_report(rows_sr))
        _write_json(args, paths, [r.to_dict() for r in rows_sr])
        return 0
    generators = load_generators(paths)
    for G in generators.values():
        check_sample_memory(f"--batch-sizes {max(args.batch_sizes)}", G, max(args.batch_sizes))
    rows = build_report(generators, args.teacher, args.batch_sizes, args.warmup, args.repeats, args.threads,
                        args.rounds)
    print(format_report(rows, stages=not args.no_stages))
    _write_json(args, paths, [r.to_dict() for r in rows])
    return 0


def _write_json(args: argparse.Namespace, paths: list, rows: list[dict]) -> None:
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"teacher": args.teacher or paths[0], "rows": rows}, indent=1) + "\n")
