"""Training-step speed per configuration: s/iteration, kimg/hour, achieved GFLOP/s vs this machine's dense matmul
GFLOP/s, and the speed-up of each configuration against a baseline measured in the same run.

Each configuration runs in its own process (allocator settings and torch.compile caches are per process). Usage:
    python benchmarks/train_step.py                       # tiny and small, fp32 and bf16, allocator on/off
    python benchmarks/train_step.py --presets tiny --steps 10 --batch 32
    python benchmarks/train_step.py --precisions fp32 --config nchw="preset=tiny channels_last=false" \\
        --config tiny="preset=tiny" --config compile="preset=tiny channels_last=false compile=true"
A --config NAME="k=v ..." is a preset (preset=..., default tiny) plus ganforge key=value overrides, and optionally
threads=N (torch threads in that process); the first --config is the baseline of the speed-up column.
Pretrained-backbone discriminators (docs/pretrained_discriminators.md) are overrides too; the RSS column is each
process's peak memory, so one --config per backbone gives its cost and memory:
    python benchmarks/train_step.py --precisions fp32 --config base="preset=tiny" \
        --config vgg16="preset=tiny d_aux=vgg16" --config vgg16x2="preset=tiny d_aux=vgg16,vgg16" \
        --config vgg16_r1="preset=tiny d_aux='[{\\"backbone\\":\\"vgg16\\",\\"r1\\":true}]'" \
        --config projected="preset=tiny d_arch=projected loss.name=hinge loss.r1=false loss.r2=false"
Super-resolution steps (task=sr presets; FP32 networks, so --precisions fp32), e.g. the perceptual VGG in BF16:
    python benchmarks/train_step.py --precisions fp32 --batch 8 --config esrgan="preset=sr-tiny" \
        --config esrgan_bf16="preset=sr-tiny sr.perceptual_precision=bf16"
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class BenchConfig:
    """One measured configuration: a preset, ganforge key=value overrides and the torch thread count (0 = default)."""

    name: str
    preset: str = "tiny"
    overrides: list[str] = field(default_factory=list)
    threads: int = 0


def parse_config(item: str) -> BenchConfig:
    """'NAME=preset=tiny k=v threads=1' -> BenchConfig; keys and values are checked against the preset now."""
    from ganforge.training import get_preset
    from ganforge.training.overrides import ConfigError, apply_overrides

    name, sep, text = item.partition("=")
    name = name.strip()
    if not sep or not name or not name.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"--config {item!r}: expected NAME=\"key=value ...\" (NAME: letters, digits, - or _)")
    cfg = BenchConfig(name)
    for token in shlex.split(text):
        key, sep, value = token.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise ValueError(f"--config {name}: '{token}' is not key=value")
        if key == "preset":
            cfg.preset = value
        elif key == "threads":
            if not value.isdigit() or int(value) < 1:
                raise ValueError(f"--config {name}: threads must be an integer >= 1, got {value!r}")
            cfg.threads = int(value)
        else:
            cfg.overrides.append(f"{key}={value}")
    try:
        apply_overrides(get_preset(cfg.preset), cfg.overrides)
    except (KeyError, ConfigError) as e:
        raise ValueError(f"--config {name}: {e}") from None
    return cfg


def parse_configs(items: list[str]) -> list[BenchConfig]:
    configs = [parse_config(item) for item in items]
    names = [c.name for c in configs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"--config {', '.join(twice)} given twice")
    return configs


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


def bench_dataset(cfg, batch: int):
    """Random uint8 images with the configured data's channel count and classes (a speed benchmark needs no content);
    None for task=sr, whose Trainer cuts its pairs from the run's HR photos (default: the built-in ones)."""
    import torch

    if cfg.task == "sr":
        return None

    from ganforge.data import ImageDataset, load_dataset

    data = load_dataset(cfg.data, root=cfg.data_root, size=16, seed=cfg.seed, max_images=16)
    n, res, classes = max(4 * batch, 256), cfg.net.resolution, data.num_classes if cfg.conditional else 0
    images = torch.randint(0, 256, (n, data.channels, res, res), dtype=torch.uint8)
    labels = torch.randint(0, classes, (n,)) if classes else None
    return ImageDataset(images, labels, classes, f"bench-{data.channels}ch")


def measure(bench: BenchConfig, batch: int, steps: int, precision: str) -> dict:
    """Time `steps` training steps after 2 warm-up steps (which include any compilation); count one step's FLOPs."""
    import torch

    if bench.threads:
        torch.set_num_threads(bench.threads)
    from ganforge.training import get_preset
    from ganforge.training.overrides import apply_overrides

    cfg = get_preset(bench.preset)
    scratch = tempfile.mkdtemp(prefix="ganforge-bench-")  # one scratch run dir per process, removed at exit
    cfg.batch_size, cfg.precision, cfg.out = batch, precision, str(Path(scratch) / "run")
    cfg.device = "cpu"
    apply_overrides(cfg, bench.overrides)
    try:
        return _time_steps(bench, cfg, batch, steps)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _time_steps(bench: BenchConfig, cfg: Any, batch: int, steps: int) -> dict:
    """The timed steps of `measure`, on a Trainer writing to cfg.out."""
    import torch

    from ganforge.training import Trainer

    t = Trainer(cfg, dataset=bench_dataset(cfg, batch))
    start = time.perf_counter()
    for _ in range(2):
        t.train_step()
    warmup = time.perf_counter() - start
    fast = t.G_fast, t.D_fast
    t.G_fast, t.D_fast = t.G, t.D  # count eager ops: compiled kernels are invisible to the dispatcher
    flops = count_flops(t.train_step)
    t.G_fast, t.D_fast = fast
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        t.train_step()
        times.append(time.perf_counter() - start)
    sec = statistics.fmean(times)  # the mean: with lazy R1/R2 every k-th step is slower, the median would hide it
    params = sum(p.numel() for p in t.G.parameters())
    params_d = sum(p.numel() for m in (t.D, t.aux) for p in m.parameters())  # trainable: frozen backbones are buffers
    import resource

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"name": bench.name, "preset": bench.preset, "batch": batch, "precision": cfg.precision, "params_G": params,
            "params_D": params_d, "max_rss_mb": rss_mb,
            "threads": torch.get_num_threads(), "warmup_sec": warmup, "sec_per_step": sec,
            "median_sec_per_step": statistics.median(times), "kimg_per_hour": batch / sec * 3600 / 1000,
            "gflop_per_step": flops / 1e9, "gflops": flops / sec / 1e9}


def run_child(bench: BenchConfig, args: argparse.Namespace, precision: str, malloc_tuned: bool = True) -> dict:
    env = {**os.environ, **({} if malloc_tuned else {"GANFORGE_NO_MALLOC_TUNING": "1"})}
    spec = json.dumps({**asdict(bench), "precision": precision})
    proc = subprocess.run([sys.executable, __file__, "--child", spec, "--batch", str(args.batch), "--steps",
                           str(args.steps)], env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"configuration {bench.name} ({precision}) failed:\n{proc.stderr[-4000:]}")
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "malloc_tuned": malloc_tuned}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--presets", default="tiny,small", help="without --config: these presets, allocator on/off")
    ap.add_argument("--config", action="append", default=[], metavar='NAME="k=v ..."',
                    help="preset=NAME, threads=N and ganforge key=value overrides (repeat; the first is the baseline)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        precision = spec.pop("precision")
        print(json.dumps(measure(BenchConfig(**spec), args.batch, args.steps, precision)))
        return
    try:
        configs = parse_configs(args.config)
    except ValueError as e:
        ap.error(str(e))
    mm = matmul_gflops()
    rows = []
    for precision in args.precisions.split(","):
        if configs:
            rows += [run_child(bench, args, precision) for bench in configs]
        else:
            for preset in args.presets.split(","):
                rows += [run_child(BenchConfig(preset, preset), args, precision, tuned) for tuned in (True, False)]
    import torch

    from ganforge.utils.perf import cpu_info

    cpu = cpu_info()
    present = ", ".join(f"{k} {'present' if cpu[k] else 'absent'}" for k in ("avx2", "avx512f", "avx512_bf16", "amx"))
    print(f"CPU: {cpu['model']}; {present}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; dense fp32 matmul (2048^3): {mm:.1f} GFLOP/s")
    head = (f"{'config':16} {'G params':>9} {'batch':>5} {'prec':>5} {'thr':>3} {'malloc':>6} {'warm-up s':>9} "
            f"{'s/step':>7} {'kimg/h':>7} {'GFLOP/step':>10} {'GFLOP/s':>8} {'vs matmul':>9} {'speed-up':>8} "
            f"{'D params':>9} {'RSS MB':>7}")
    print(head)
    if configs:
        base = {r["name"]: rows[0]["sec_per_step"] for r in rows}
    else:
        base = {r["name"]: r["sec_per_step"] for r in rows if r["precision"] == "fp32" and not r["malloc_tuned"]}
    for r in rows:
        print(f"{r['name']:16} {r['params_G']:>9,} {r['batch']:>5} {r['precision']:>5} {r['threads']:>3} "
              f"{'tuned' if r['malloc_tuned'] else 'glibc':>6} {r['warmup_sec']:>9.1f} {r['sec_per_step']:>7.3f} "
              f"{r['kimg_per_hour']:>7.1f} {r['gflop_per_step']:>10.2f} {r['gflops']:>8.1f} {r['gflops'] / mm:>9.2f} "
              f"{base[r['name']] / r['sec_per_step']:>7.2f}x {r['params_D']:>9,} {r['max_rss_mb']:>7.0f}")
    print("s/step: mean over the timed steps; GFLOP counted on the eager ops; warm-up: the first 2 steps (incl. "
          "compilation)")
    print(f"speed-up: against {rows[0]['name']} ({rows[0]['precision']}), same run" if configs else
          "speed-up: against fp32 with glibc's default allocator, same preset, same run")


if __name__ == "__main__":
    main()
