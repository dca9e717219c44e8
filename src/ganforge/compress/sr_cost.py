"""Cost of super-resolution generators: parameters, MACs and CPU latency per low-resolution input size, and the
speed-up of each against a teacher (the numbers of SDAKD Table 3).

Real-ESRGAN trains on 400x400 HR crops, i.e. 100x100 LR inputs at x4, so 100 is the paper-scale size; a small one
(32) shows where fixed per-call costs start to dominate thin students. MACs follow `ganforge.compress.profile`:
one multiply-add = one MAC, counted by `torch.utils.flop_counter` (FLOPs / 2), per image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ganforge.compress.profile import LatencyResult, count_params, latency_rounds
from ganforge.compress.report import human_count, text_table
from ganforge.errors import UserError
from ganforge.limits import hint, limit
from ganforge.networks.sr import SRNetConfig
from ganforge.networks.sr.weights import SR_FORMAT, load_sr_weights

DEFAULT_LR_SIZES = (100, 32)


@dataclass
class SRCostRow:
    name: str
    num_feat: int
    params: int
    macs: dict[int, int]  # LR side -> MACs per image
    latency: dict[int, LatencyResult] = field(default_factory=dict)  # LR side -> batch-1 latency
    params_ratio: float = 1.0
    speedup: dict[int, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.name, "num_feat": self.num_feat, "params": self.params, "params_ratio": self.params_ratio,
                "macs": {str(s): m for s, m in self.macs.items()},
                "latency_ms": {str(s): r.median_ms for s, r in self.latency.items()},
                "speedup": {str(s): v for s, v in self.speedup.items()},
                "threads": next(iter(self.latency.values())).threads if self.latency else None}


def lr_input(net: nn.Module, size: int, batch_size: int = 1, seed: int = 0) -> torch.Tensor:
    """A fixed random LR batch in [0, 1], its side rounded up to what the network accepts (RRDB x2 unshuffles)."""
    multiple = int(getattr(net, "input_multiple", 1))
    side = -(-size // multiple) * multiple
    cfg: SRNetConfig = net.cfg
    out_bytes = 4 * batch_size * cfg.num_out_ch * (side * cfg.scale) ** 2
    if out_bytes > limit("MAX_SAMPLE_BYTES"):
        raise UserError(f"LR size {size}: the x{cfg.scale} output needs {out_bytes / 2**30:.1f} GiB; use a smaller "
                        f"size or {hint('MAX_SAMPLE_BYTES')}")
    p = next(net.parameters())
    return torch.rand(batch_size, cfg.num_in_ch, side, side, generator=torch.Generator().manual_seed(seed)).to(p.device)


def sr_macs(net: nn.Module, size: int) -> int:
    """MACs of one forward pass on a size x size LR image."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(lr_input(net, size))
    return counter.get_total_flops() // 2


def build_sr_report(nets: dict[str, nn.Module], teacher: str | None = None, sizes: tuple[int, ...] = DEFAULT_LR_SIZES,
                    warmup: int = 2, repeats: int = 5, threads: int | None = None, rounds: int = 1) -> list[SRCostRow]:
    """Profile every SR generator at batch 1; ratios and speed-ups against `teacher` (default: the first).

    The networks are timed in turn, round after round, so a load spike on a shared CPU is spread over all of them.
    """
    if not nets:
        raise ValueError("no networks to report on")
    teacher = teacher or next(iter(nets))
    rows = [SRCostRow(name, net.cfg.num_feat, count_params(net), {s: sr_macs(net, s) for s in sizes})
            for name, net in nets.items()]
    jobs = {(name, s): (net, (lr_input(net, s),), 1) for name, net in nets.items() for s in sizes}
    latency = latency_rounds(jobs, warmup, repeats, rounds, threads)
    for row in rows:
        row.latency = {s: latency[row.name, s] for s in sizes}
    ref = next(r for r in rows if r.name == teacher)
    for row in rows:
        row.params_ratio = row.params / ref.params
        row.speedup = {s: ref.latency[s].median_ms / row.latency[s].median_ms for s in sizes}
    return rows


def format_sr_report(rows: list[SRCostRow]) -> str:
    """A plain-text table: params, MACs, batch-1 latency and speed-up per LR size."""
    sizes = list(rows[0].macs)
    head = ["generator", "num_feat", "params", "params x"]
    head += [f"MACs@{s}" for s in sizes] + [f"ms@{s}" for s in sizes] + [f"speed-up@{s}" for s in sizes]
    lines = [head]
    for r in rows:
        lines.append([r.name, str(r.num_feat), human_count(r.params), f"{r.params_ratio:.3f}"]
                     + [human_count(r.macs[s]) for s in sizes] + [f"{r.latency[s].median_ms:.1f}" for s in sizes]
                     + [f"{r.speedup[s]:.2f}x" for s in sizes])
    threads = next(iter(rows[0].latency.values())).threads
    return (text_table(lines) + f"\n(LR input sides; MACs per image; latency: median ms of one batch-1 forward pass on "
            f"CPU, {threads} thread(s), torch.inference_mode)")


def sr_run_generator(path: str | Path) -> Path | None:
    """<run>/generator.safetensors of a task=sr run directory (a trained or compressed SR model), else None."""
    import json

    config, weights = Path(path) / "config.json", Path(path) / "generator.safetensors"
    if not (config.is_file() and weights.is_file()):
        return None
    try:
        task = json.loads(config.read_text()).get("task")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return None
    return weights if task == "sr" else None


def is_sr_weights(path: str | Path) -> bool:
    """An official Real-ESRGAN .pth, a ganforge SR .safetensors (told apart from GAN runs by name and metadata) or a
    task=sr run directory holding one."""
    path = Path(path)
    if path.is_dir():
        return sr_run_generator(path) is not None
    if not path.is_file():
        return False
    if path.suffix == ".pth":
        return True
    if path.suffix != ".safetensors":
        return False
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return (f.metadata() or {}).get("format") == SR_FORMAT
    except Exception:  # not readable as safetensors: leave it to the GAN loader's own message
        return False


def load_sr_generators(paths: list[str | Path]) -> dict[str, nn.Module]:
    """{path: SR generator} for each weights file; a discriminator file is refused."""
    nets = {}
    for p in paths:
        net = load_sr_weights(sr_run_generator(p) or p)
        if not isinstance(getattr(net, "cfg", None), SRNetConfig):
            raise UserError(f"{p}: holds an SR discriminator; the report profiles generators")
        nets[str(p)] = net
    return nets


__all__ = ["DEFAULT_LR_SIZES", "SRCostRow", "build_sr_report", "format_sr_report", "is_sr_weights",
           "load_sr_generators", "lr_input", "sr_macs", "sr_run_generator"]
