"""SD-GAN overhead (SD-GAN Table 2): s/kimg and peak memory of baseline vs self-distillation variants.

Timing: all variants live in ONE process and are measured in interleaved rounds (each round times `--steps` training
steps of every variant, in rotated order), so load from other processes on a shared machine hits all variants alike;
the overhead is the median over rounds of (variant time / baseline time in the same round). Peak memory: each
variant runs a few steps in its own fresh process (peak RSS, or peak CUDA memory on a GPU) — RSS is per process
and only grows, so it cannot be measured in the shared process. `--precision-check` also times the LPIPS-VGG
student+teacher pass in FP32 and BF16 autocast and compares the loss and its gradient. Usage:
    python benchmarks/self_distill.py                              # tiny and small presets, default variants
    python benchmarks/self_distill.py --presets tiny --rounds 8 --steps 2 --precision-check
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

VARIANTS = {  # name -> config overrides (self_distill=true implied except for the baseline)
    "baseline": {},
    "sd-l1": {"sd.distance": "l1"},
    "sd-lpips-vgg": {"sd.distance": "lpips-vgg"},
    "sd-d-features": {"sd.distance": "d-features"},
    "sd-lpips-alex": {"sd.distance": "lpips-alex"},
    "sd-lpips-vgg-f0.5": {"sd.distance": "lpips-vgg", "sd.batch_fraction": 0.5},
    "sd-lpips-vgg-f0.25": {"sd.distance": "lpips-vgg", "sd.batch_fraction": 0.25},
    "sd-lpips-vgg-bf16": {"sd.distance": "lpips-vgg", "sd.lpips_precision": "bf16"},
}
DEFAULT_VARIANTS = "baseline,sd-l1,sd-lpips-vgg,sd-d-features"


def make_trainer(preset: str, variant: str, batch: int | None, out: str, device: str):
    import torch

    from ganforge.data import ImageDataset
    from ganforge.training import Trainer, get_preset
    from ganforge.training.overrides import set_key

    cfg = get_preset(preset)
    cfg.out, cfg.device, cfg.precision = out, device, "fp32" if device == "cpu" else "auto"
    if batch:
        cfg.batch_size = batch
    if variant != "baseline":
        cfg.self_distill = True
    for key, value in VARIANTS[variant].items():
        set_key(cfg, key, value)
    res = cfg.net.resolution
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (max(4 * cfg.batch_size, 256), 3, res, res), dtype=torch.uint8, generator=g)
    return Trainer(cfg, dataset=ImageDataset(images, None, 0, "bench"), overwrite=True)  # scratch dirs, reused


def time_variants(preset: str, variants: list[str], batch: int | None, rounds: int, steps: int, device: str) -> dict:
    """Interleaved rounds; returns per-variant median s/step and the median paired ratio to the baseline."""
    with tempfile.TemporaryDirectory() as tmp:
        trainers = {v: make_trainer(preset, v, batch, os.path.join(tmp, v), device) for v in variants}
        for t in trainers.values():
            for _ in range(2):
                t.train_step()
        times: dict[str, list[float]] = {v: [] for v in variants}
        for r in range(rounds):
            order = variants[r % len(variants):] + variants[:r % len(variants)]
            for v in order:
                start = time.perf_counter()
                for _ in range(steps):
                    trainers[v].train_step()
                if device.startswith("cuda"):
                    import torch

                    torch.cuda.synchronize()
                times[v].append((time.perf_counter() - start) / steps)
        bs = next(iter(trainers.values())).cfg.batch_size
    base = times["baseline"]
    return {v: {"sec_per_step": statistics.median(ts), "sec_per_kimg": statistics.median(ts) / bs * 1000,
                "overhead": statistics.median(t / b for t, b in zip(ts, base)) - 1,
                "overhead_q1_q3": [q - 1 for q in _quartiles([t / b for t, b in zip(ts, base)])],
                "batch": bs} for v, ts in times.items()}


def _quartiles(x: list[float]) -> list[float]:
    q = statistics.quantiles(x, n=4) if len(x) > 1 else [x[0]] * 3
    return [q[0], q[2]]


def peak_memory(preset: str, variant: str, batch: int | None, steps: int, device: str) -> dict:
    """Run in a fresh process: peak RSS (CPU) or peak allocated CUDA memory after `steps` steps."""
    import resource

    import torch

    with tempfile.TemporaryDirectory() as tmp:
        t = make_trainer(preset, variant, batch, tmp, device)
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        for _ in range(steps):
            t.train_step()
    if device.startswith("cuda"):
        return {"peak_mb": torch.cuda.max_memory_allocated() / 2**20, "kind": "cuda_max_allocated"}
    try:  # VmHWM: this process's own peak; ru_maxrss would include the parent's RSS inherited through fork + exec
        with open("/proc/self/status") as f:
            hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
        return {"peak_mb": hwm / 1024, "kind": "VmHWM"}
    except (OSError, StopIteration):
        return {"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "kind": "max_rss"}


def precision_check(batch: int, rounds: int) -> dict:
    """LPIPS-VGG student (with grad) + teacher (no grad) pass, FP32 vs BF16 autocast: time, loss, gradient."""
    import torch

    from ganforge.perceptual.lpips_metric import LPIPS, native_bf16
    from ganforge.utils.perf import tune_allocator

    tune_allocator()
    g = torch.Generator().manual_seed(0)
    student = torch.rand(batch, 3, 32, 32, generator=g) * 2 - 1
    teacher = (student + 0.1 * torch.randn(student.shape, generator=g)).clamp(-1, 1)
    nets = {p: LPIPS("vgg16", precision=p) for p in ("fp32", "bf16")}

    def step(p: str) -> tuple[float, torch.Tensor]:
        x = student.clone().requires_grad_(True)
        with torch.no_grad():
            taps_t = nets[p].taps(teacher)
        d = nets[p].distance_from_taps(nets[p].taps(x), taps_t).mean()
        d.backward()
        return float(d.detach()), x.grad

    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for p in times:
        step(p)
    for _ in range(rounds):
        for p in times:
            start = time.perf_counter()
            step(p)
            times[p].append(time.perf_counter() - start)
    (l32, g32), (l16, g16) = step("fp32"), step("bf16")
    cos = torch.nn.functional.cosine_similarity(g32.flatten(), g16.flatten(), dim=0)
    return {"native_bf16": native_bf16(torch.device("cpu")), "batch": batch,
            "fp32_sec": statistics.median(times["fp32"]), "bf16_sec": statistics.median(times["bf16"]),
            "loss_fp32": l32, "loss_bf16": l16, "loss_rel_diff": abs(l16 - l32) / abs(l32), "grad_cosine": float(cos)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--presets", default="tiny,small")
    ap.add_argument("--variants", default=DEFAULT_VARIANTS, help=f"comma list of {', '.join(VARIANTS)}")
    ap.add_argument("--batch", type=int, help="default: the preset's batch size")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--steps", type=int, default=2, help="steps per variant per round")
    ap.add_argument("--mem-steps", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's choice); 1 is steadier on a loaded "
                                                  "machine")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--precision-check", action="store_true")
    ap.add_argument("--json", help="also write all results here")
    ap.add_argument("--child-mem", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.child_mem:
        preset, variant = args.child_mem.split(":")
        print(json.dumps(peak_memory(preset, variant, args.batch, args.mem_steps, args.device)))
        return
    import torch

    from ganforge.utils.perf import tune_allocator

    tune_allocator()
    variants = args.variants.split(",")
    if "baseline" not in variants:
        variants.insert(0, "baseline")
    results: dict = {"torch": torch.__version__, "threads": torch.get_num_threads(),
                     "cpu_capability": torch.backends.cpu.get_cpu_capability(), "presets": {}}
    for preset in args.presets.split(","):
        timing = time_variants(preset, variants, args.batch, args.rounds, args.steps, args.device)
        if not args.no_memory:
            for v in variants:
                cmd = [sys.executable, __file__, "--child-mem", f"{preset}:{v}", "--mem-steps", str(args.mem_steps),
                       "--device", args.device] + (["--batch", str(args.batch)] if args.batch else []) + (
                       ["--threads", str(args.threads)] if args.threads else [])
                out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
                timing[v].update(json.loads(out.strip().splitlines()[-1]))
        results["presets"][preset] = timing
        print(f"\npreset {preset}, batch {timing['baseline']['batch']}, {args.rounds} interleaved rounds x "
              f"{args.steps} steps, torch {torch.__version__}, {torch.get_num_threads()} threads, "
              f"{results['cpu_capability']}")
        print(f"{'variant':20} {'s/kimg':>8} {'overhead':>9} {'(q1..q3)':>16} {'peak MB':>8} {'mem +':>7}")
        base_mem = timing["baseline"].get("peak_mb")
        for v in variants:
            r = timing[v]
            mem = f"{r['peak_mb']:8.0f} {(r['peak_mb'] / base_mem - 1) * 100:+6.1f}%" if base_mem else ""
            q1, q3 = r["overhead_q1_q3"]
            print(f"{v:20} {r['sec_per_kimg']:8.2f} {r['overhead'] * 100:+8.1f}% "
                  f"({q1 * 100:+6.1f}..{q3 * 100:+6.1f}%) {mem}")
    if args.precision_check:
        pc = precision_check(32, args.rounds)
        results["precision_check"] = pc
        print(f"\nLPIPS-VGG student+teacher pass, batch {pc['batch']} at 32x32: FP32 {pc['fp32_sec']:.3f} s, BF16 "
              f"autocast {pc['bf16_sec']:.3f} s ({pc['fp32_sec'] / pc['bf16_sec']:.2f}x); native BF16 here: "
              f"{pc['native_bf16']}; loss rel. diff {pc['loss_rel_diff']:.2e}, gradient cosine {pc['grad_cosine']:.4f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
