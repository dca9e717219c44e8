"""CPU latency of channel-fraction SR students against their teacher (issue target: >= 2x, 3.5x, 5x at C = 1/2,
1/4, 1/8; SDAKD Table 3 reports 1.98x, 3.43x, 4.35x for GCFSR on a GPU, 1.77x, 1.96x, 2.08x for Real-ESRGAN).

Teachers are the official Real-ESRGAN shapes (RealESRGAN_x4plus: RRDBNet 64 features, 23 blocks; realesr-general-x4v3:
SRVGGNetCompact 64 features, 32 convs) with random weights, since latency does not depend on the values; give
--weights FILE to time a real release file instead. Students come from ganforge.compress.sr_student. All networks
are timed in turn for --rounds rounds, batch 1, at each LR side. Usage:
    python benchmarks/sr_latency.py [--arch rrdb,srvgg] [--lr-sizes 100,32] [--rounds 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

TARGETS = {0.5: 2.0, 0.25: 3.5, 0.125: 5.0}
TEACHERS = {"rrdb": dict(arch="rrdb", num_feat=64, num_block=23, num_grow_ch=32, scale=4),
            "srvgg": dict(arch="srvgg", num_feat=64, num_conv=32, scale=4)}


def main() -> None:
    from ganforge.compress.sr_cost import build_sr_report, format_sr_report
    from ganforge.compress.sr_student import make_sr_student
    from ganforge.networks.sr import SRNetConfig, build_sr_generator, load_sr_weights
    from ganforge.utils.perf import cpu_info

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="rrdb,srvgg", help="teachers to build: rrdb, srvgg (comma-separated)")
    p.add_argument("--weights", help="time this SR weights file as the teacher instead of --arch")
    p.add_argument("--lr-sizes", default="100,32", help="LR input sides (comma-separated)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", help="also write the rows here")
    args = p.parse_args()
    sizes = tuple(int(s) for s in args.lr_sizes.split(","))

    cpu = cpu_info()
    present = ", ".join(f"{k} {'present' if cpu[k] else 'absent'}" for k in ("avx2", "avx512f", "avx512_bf16", "amx"))
    print(f"CPU: {cpu['model']}; {present}\ntorch {torch.__version__}, {torch.get_num_threads()} threads, FP32")
    teachers = ({"weights": load_sr_weights(args.weights)} if args.weights else
                {a: build_sr_generator(SRNetConfig(**TEACHERS[a])) for a in args.arch.split(",")})
    out = {}
    for name, teacher in teachers.items():
        torch.manual_seed(0)
        nets = {f"{name} C=1": teacher.eval()}
        nets.update({f"{name} C=1/{round(1 / c)}": make_sr_student(teacher, c).eval() for c in TARGETS})
        rows = build_sr_report(nets, sizes=sizes, warmup=1, repeats=args.repeats, rounds=args.rounds)
        print(f"\n{format_sr_report(rows)}")
        for row, c in zip(rows[1:], TARGETS):
            verdict = ", ".join(f"{row.speedup[s]:.2f}x at {s}" for s in sizes)
            print(f"  C=1/{round(1 / c)}: target {TARGETS[c]}x; measured {verdict}")
        out[name] = [r.to_dict() for r in rows]
    if args.json:
        Path(args.json).write_text(json.dumps({"cpu": {k: v for k, v in cpu.items() if k != "flags"},
                                               "targets": {str(k): v for k, v in TARGETS.items()}, "rows": out},
                                              indent=1) + "\n")


if __name__ == "__main__":
    main()
