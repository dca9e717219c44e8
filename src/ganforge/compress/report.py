"""Cost report over several generators: parameters, MACs per image, compression relative to the teacher, per-stage
split and CPU latency speed-ups (the numbers behind SDAKD Table 3 and NICKEL & DiME Tables 1-3).

Compression rate = 1 - MACs_student / MACs_teacher (how NICKEL & DiME report it, from FLOPs); the parameter
ratio is given separately. Speed-up = teacher latency / student latency at the same batch size and threads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ganforge.compress.profile import Profile, count_macs, count_params, latency_rounds, sample_inputs
from ganforge.compress.student import feature_widths
from ganforge.errors import UserError
from ganforge.utils.threads import limited_threads


@dataclass
class ReportRow:
    name: str
    widths: list[int]
    profile: Profile
    params_ratio: float = 1.0  # params / teacher params
    compression_rate: float = 0.0  # 1 - MACs / teacher MACs
    speedup: dict[int, float] = field(default_factory=dict)  # batch size -> teacher ms / this ms

    def to_dict(self) -> dict:
        return {"name": self.name, "widths": self.widths, "params": self.profile.params, "macs": self.profile.macs,
                "params_ratio": self.params_ratio, "compression_rate": self.compression_rate,
                "latency_ms": {str(b): r.median_ms for b, r in self.profile.latency.items()},
                "speedup": {str(b): s for b, s in self.speedup.items()},
                "threads": next(iter(self.profile.latency.values())).threads if self.profile.latency else None,
                "stages": [vars(s) for s in self.profile.stages]}


def build_report(generators: dict[str, nn.Module], teacher: str | None = None, batch_sizes: tuple[int, ...] = (1, 32),
                 warmup: int = 3, repeats: int = 10, threads: int | None = None, rounds: int = 1) -> list[ReportRow]:
    """Profile every generator; ratios and speed-ups are relative to `teacher` (default: the first one).

    With rounds > 1 the generators are timed in turn, round after round, and each median covers all its runs, so
    a load spike on a shared machine does not land on one generator only.
    """
    if not generators:
        raise ValueError("no generators to report on")
    teacher = teacher or next(iter(generators))
    rows = []
    for name, G in generators.items():
        widths = generator_widths(G, name)
        macs, stages = count_macs(G)
        rows.append(ReportRow(name, widths, Profile(count_params(G), macs, stages)))
    jobs = {(name, b): (G, sample_inputs(G, b), b) for name, G in generators.items() for b in batch_sizes}
    with limited_threads(threads):
        latency = latency_rounds(jobs, warmup, repeats, rounds)
    for row in rows:
        row.profile.latency = {b: latency[row.name, b] for b in batch_sizes}
    ref = next(r for r in rows if r.name == teacher).profile
    for r in rows:
        r.params_ratio = r.profile.params / ref.params
        r.compression_rate = 1 - r.profile.macs / ref.macs
        r.speedup = {b: ref.latency[b].median_ms / r.profile.latency[b].median_ms for b in batch_sizes}
    return rows


def generator_widths(G: nn.Module, name: str = "generator") -> list[int]:
    """Channels of each stage (R3GAN) or synthesis block (StyleGAN2), lowest resolution first."""
    try:
        return [w for _, w in feature_widths(G)]
    except (TypeError, UserError):
        raise UserError(f"{name}: cost reports cover R3GAN and StyleGAN2 generators, not "
                        f"{type(G).__name__}") from None


def human_count(n: float) -> str:
    """1234567 -> 1.23M (G, M, k)."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return f"{n:.0f}"


def format_report(rows: list[ReportRow], stages: bool = True) -> str:
    """A plain-text table (plus a per-stage MACs table when `stages`)."""
    batch_sizes = list(rows[0].profile.latency)
    head = ["generator", "widths", "params", "MACs/img", "params x", "compr."]
    head += [f"ms@{b}" for b in batch_sizes] + [f"speed-up@{b}" for b in batch_sizes]
    lines = [head]
    for r in rows:
        w = r.widths
        widths = str(w[0]) if len(set(w)) == 1 else "/".join(map(str, w))
        lines.append([r.name, widths, human_count(r.profile.params), human_count(r.profile.macs),
                      f"{r.params_ratio:.3f}", f"{100 * r.compression_rate:.2f}%"]
                     + [f"{r.profile.latency[b].median_ms:.2f}" for b in batch_sizes]
                     + [f"{r.speedup[b]:.2f}x" for b in batch_sizes])
    out = [text_table(lines)]
    threads = rows[0].profile.latency[batch_sizes[0]].threads if batch_sizes else torch.get_num_threads()
    out.append(f"(MACs: one multiply-add = one MAC, per image, torch.utils.flop_counter FLOPs / 2; latency: median "
               f"ms per forward of the whole batch on CPU, {threads} thread(s), torch.inference_mode)")
    if stages:
        names = [s.name for s in rows[0].profile.stages]
        st = [["stage (MACs/img)", *[r.name for r in rows]]]
        for i, n in enumerate(names):
            st.append([n, *[human_count(r.profile.stages[i].macs) if i < len(r.profile.stages) else "-" for r in rows]])
        out.append(text_table(st))
    return "\n\n".join(out)


def text_table(lines: list[list[str]]) -> str:
    """Rows of cells as aligned plain text, a rule under the header row."""
    widths = [max(len(str(row[i])) for row in lines) for i in range(len(lines[0]))]
    fmt = [" ".join(str(c).rjust(w) if j else str(c).ljust(w) for j, (c, w) in enumerate(zip(row, widths)))
           for row in lines]
    return "\n".join([fmt[0], "-" * len(fmt[0]), *fmt[1:]])


def load_generators(paths: list[str | Path]) -> dict[str, nn.Module]:
    """{path: EMA generator} for each run dir / checkpoint / generator file."""
    from ganforge.training.load import load_generator

    return {str(p): load_generator(p) for p in paths}


__all__ = ["ReportRow", "build_report", "format_report", "generator_widths", "human_count", "load_generators",
           "text_table"]
