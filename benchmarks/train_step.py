"""Training-step speed per preset: s/iteration, kimg/hour, achieved GFLOP/s vs this machine's dense matmul GFLOP/s.

Each configuration runs in its own process (allocator settings are per process). Usage:
    python benchmarks/train_step.py                       # tiny and small, fp32 and bf16, allocator on/off
    python benchmarks/train_step.py --presets tiny --steps 10 --batch 32
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times) / 1e9


def count_flops(fn) -> int:
    """FLOPs of fn() from torch's own per-op formulas (torch.utils.flop_counter), counted at the dispatcher.

    FlopCounterMode itself cannot be used: its module tracker rejects the autograd.grad of the R1/R2 penalties.
    """
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class Counter(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            formula = flop_registry.get(func._overloadpacket)
            if formula is not None:
                Counter.total += formula(*args, **kwargs, out_val=out)
            return out

    with Counter():
        fn()
    return Counter.total


def measure(preset: str, batch: int, steps: int, precision: str) -> dict:
    """Time `steps` training steps after 2 warm-up steps; count the FLOPs of one step."""
    import torch

    from ganforge.data import ImageDataset
    from ganforge.training import Trainer, get_preset

    cfg = get_preset(preset)
    cfg.batch_size, cfg.precision, cfg.out = batch, precision, f"/tmp/ganforge-bench-{os.getpid()}"
    cfg.device = "cpu"
    res = cfg.net.resolution
    images = torch.randint(0, 256, (max(4 * batch, 256), 3, res, res), dtype=torch.uint8)
    t = Trainer(cfg, dataset=ImageDataset(images, None, 0, "bench"))
    for _ in range(2):
        t.train_step()
    flops = count_flops(t.train_step)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        t.train_step()
        times.append(time.perf_counter() - start)
    sec = statistics.median(times)
    params = sum(p.numel() for p in t.G.parameters())
    return {"preset": preset, "batch": batch, "precision": precision, "params_G": params, "sec_per_step": sec,
            "kimg_per_hour": batch / sec * 3600 / 1000, "gflop_per_step": flops / 1e9, "gflops": flops / sec / 1e9}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--presets", default="tiny,small")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        preset, precision = args.child.split(":")
        print(json.dumps(measure(preset, args.batch, args.steps, precision)))
        return
    mm = matmul_gflops()
    rows = []
    for preset in args.presets.split(","):
        for precision in args.precisions.split(","):
            for tuned in (True, False):
                env = {**os.environ, **({} if tuned else {"GANFORGE_NO_MALLOC_TUNING": "1"})}
                out = subprocess.run([sys.executable, __file__, "--child", f"{preset}:{precision}", "--batch",
                                      str(args.batch), "--steps", str(args.steps)], env=env, capture_output=True,
                                     text=True, check=True).stdout
                rows.append({**json.loads(out.strip().splitlines()[-1]), "malloc_tuned": tuned})
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; dense fp32 matmul (2048^3): {mm:.1f} GFLOP/s")
    head = (f"{'preset':8} {'G params':>9} {'batch':>5} {'prec':>5} {'malloc':>6} {'s/step':>7} {'kimg/h':>7} "
            f"{'GFLOP/step':>10} {'GFLOP/s':>8} {'vs matmul':>9} {'speed-up':>8}")
    print(head)
    base = {(r["preset"]): r["sec_per_step"] for r in rows if r["precision"] == "fp32" and not r["malloc_tuned"]}
    for r in rows:
        print(f"{r['preset']:8} {r['params_G']:>9,} {r['batch']:>5} {r['precision']:>5} "
              f"{'tuned' if r['malloc_tuned'] else 'glibc':>6} {r['sec_per_step']:>7.3f} {r['kimg_per_hour']:>7.1f} "
              f"{r['gflop_per_step']:>10.2f} {r['gflops']:>8.1f} {r['gflops'] / mm:>9.2f} "
              f"{base[r['preset']] / r['sec_per_step']:>7.2f}x")
    print("speed-up: against fp32 with glibc's default allocator, same preset, same run")


if __name__ == "__main__":
    main()
