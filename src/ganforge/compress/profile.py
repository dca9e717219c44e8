"""Cost of a generator: parameters, MACs per image (total and per stage) and CPU latency.

Convention: one multiply-add = one MAC. MACs are counted with `torch.utils.flop_counter.FlopCounterMode`, which
reports FLOPs = 2 x MACs for convolutions and matrix products; resampling, activations and additions are not
counted (as in fvcore). StyleGAN2's FIR resampling filters are depthwise convolutions and so are counted (a few
percent of a narrow student's MACs). `analytic_macs` recounts Conv2d/Linear layers by formula for cross-checking.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ganforge.networks.adapters import StyleGAN2Generator
from ganforge.utils.threads import limited_threads


@dataclass
class StageCost:
    name: str
    params: int
    macs: int


@dataclass
class LatencyResult:
    batch_size: int
    threads: int
    median_ms: float  # per forward pass of the whole batch
    runs_ms: list[float] = field(default_factory=list)

    @property
    def per_image_ms(self) -> float:
        return self.median_ms / self.batch_size


@dataclass
class Profile:
    params: int
    macs: int  # per image
    stages: list[StageCost]
    latency: dict[int, LatencyResult] = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["latency"] = {str(b): asdict(r) for b, r in self.latency.items()}
        return d


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def sample_inputs(G: nn.Module, batch_size: int = 1, seed: int = 0,
                  device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Fixed latents (and labels 0.. for conditional generators) on G's device."""
    if device is None:
        p = next(G.parameters(), None)
        device = p.device if p is not None else torch.device("cpu")
    z = torch.randn(batch_size, G.z_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    nc = int(getattr(G, "num_classes", 0) or 0)
    c = (torch.arange(batch_size) % nc).to(device) if nc else None
    return z, c


def _stage_modules(G: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) per reported stage: embed (if any), stage i (with resolution), to_rgb; StyleGAN2: the
    mapping network, then synthesis block b<res> (its ToRGB included)."""
    if isinstance(G, StyleGAN2Generator):
        syn = G.synthesis
        return [("mapping", G.mapping), *[(f"b{r} ({r}x{r})", getattr(syn, f"b{r}")) for r in syn.block_resolutions]]
    out = []
    if getattr(G, "embed", None) is not None:
        out.append(("embed", G.embed))
    for i, stage in enumerate(G.stages):
        out.append((f"stage{i} ({4 * 2**i}x{4 * 2**i})", stage))
    out.append(("to_rgb", G.to_rgb))
    return out


def count_macs(G: nn.Module, batch_size: int = 1) -> tuple[int, list[StageCost]]:
    """MACs per image (FlopCounterMode FLOPs / 2 / batch) and the per-stage breakdown."""
    z, c = sample_inputs(G, batch_size)
    names = {id(m): n for n, m in G.named_modules()}
    root = type(G).__name__
    with torch.no_grad(), FlopCounterMode(display=False, depth=None) as counter:
        G(z, c)
    counts = counter.get_flop_counts()
    total = sum(counts.get("Global", {}).values()) // 2 // batch_size
    stages = []
    for label, module in _stage_modules(G):
        key = f"{root}.{names[id(module)]}"
        macs = sum(counts.get(key, {}).values()) // 2 // batch_size
        stages.append(StageCost(label, count_params(module), macs))
    return total, stages


def analytic_macs(model: nn.Module, *inputs: torch.Tensor) -> int:
    """MACs per sample by formula over nn.Conv2d (out elements x in/groups x kernel area) and nn.Linear layers."""
    total = 0

    def hook(m: nn.Module, args: tuple, out: torch.Tensor) -> None:
        nonlocal total
        n = out.shape[0]
        if isinstance(m, nn.Conv2d):
            k = m.kernel_size[0] * m.kernel_size[1]
            total += out.numel() // n * (m.in_channels // m.groups) * k
        else:
            total += out.numel() // n * m.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
    return total


def time_forward(model: nn.Module, inputs: tuple, batch_size: int, warmup: int = 3, repeats: int = 10,
                 threads: int | None = None) -> LatencyResult:
    """Median wall time of model(*inputs) over `repeats` runs after `warmup` runs, in eval mode under
    torch.inference_mode."""
    was_training = model.training
    model.eval()
    with limited_threads(threads) as n_threads, torch.inference_mode():
        for _ in range(warmup):
            model(*inputs)
        runs = []
        for _ in range(max(1, repeats)):
            t0 = time.perf_counter()
            model(*inputs)
            runs.append((time.perf_counter() - t0) * 1000)
    model.train(was_training)
    return LatencyResult(batch_size, n_threads, statistics.median(runs), runs)


def latency_rounds(jobs: dict[Any, tuple[nn.Module, tuple, int]], warmup: int = 3, repeats: int = 10,
                   rounds: int = 1, threads: int | None = None) -> dict[Any, LatencyResult]:
    """{key: (model, inputs, batch size)} -> {key: LatencyResult}, the jobs timed in turn, round after round (a
    load spike on a shared CPU is spread over all of them); warm-up runs in the first round, one run later."""
    runs: dict[Any, list[float]] = {}
    n_threads = 0
    for r in range(max(1, rounds)):
        for key, (model, inputs, batch) in jobs.items():
            res = time_forward(model, inputs, batch, warmup if r == 0 else 1, repeats, threads)
            runs.setdefault(key, []).extend(res.runs_ms)
            n_threads = res.threads
    return {key: LatencyResult(jobs[key][2], n_threads, statistics.median(v), v) for key, v in runs.items()}


def measure_latency(G: nn.Module, batch_size: int = 1, warmup: int = 3, repeats: int = 10,
                    threads: int | None = None) -> LatencyResult:
    """Median wall time of G(z) over `repeats` runs after `warmup` runs, under torch.inference_mode."""
    return time_forward(G, sample_inputs(G, batch_size), batch_size, warmup, repeats, threads)


def profile_generator(G: nn.Module, batch_sizes: tuple[int, ...] = (1, 32), warmup: int = 3, repeats: int = 10,
                      threads: int | None = None) -> Profile:
    """Parameters, MACs per image with the per-stage split, and latency at each batch size."""
    macs, stages = count_macs(G)
    latency = {b: measure_latency(G, b, warmup, repeats, threads) for b in batch_sizes}
    return Profile(count_params(G), macs, stages, latency)


__all__ = ["LatencyResult", "Profile", "StageCost", "analytic_macs", "count_macs", "count_params",
           "latency_rounds", "measure_latency", "profile_generator", "sample_inputs", "time_forward"]
