"""How long the runs an experiment has left would take here, from the wall times of its finished runs of the same
arm on the same kind of CPU (model and vector units: an AVX2-only CPU ran these runs about 4x slower than an
AVX-512 one). Shown by --dry-run, so a session can plan what fits before it starts."""

from __future__ import annotations

import statistics

CPU_KEYS = ("model", "logical_cpus", "avx2", "avx512f", "avx512_bf16", "amx")


def same_cpu(a: dict, b: dict) -> bool:
    """Two machine descriptions (system_info) with the same CPU kind."""
    return all(a.get("cpu", {}).get(k) == b.get("cpu", {}).get(k) for k in CPU_KEYS)


def stamp_machine(record: dict) -> None:
    """Give every run without its own machine description the record's (runs recorded before runs kept their
    own), before the record's is replaced by this machine's."""
    for run in record.get("runs", {}).values():
        run.setdefault("system", record.get("system", {}))


def arm_wall(record: dict, arm: str, here: dict, budget: float | None = None) -> float | None:
    """Mean wall seconds of `arm`'s finished runs made on a CPU like `here`, scaled to `budget` (in the runs' unit)
    when given; None without such a run."""
    walls = [r["wall_s"] * (budget / r["budget"] if budget and r.get("budget") else 1.0)
             for r in record.get("runs", {}).values()
             if r.get("arm") == arm and r.get("status") == "done" and r.get("post_eval_done") and "wall_s" in r
             and not r.get("reused_from") and same_cpu(r.get("system", {}), here)]
    return statistics.fmean(walls) if walls else None


def left_line(estimates: list[float | None]) -> str:
    """One line for the runs left: their count and the hours the estimable ones would take."""
    known = [e for e in estimates if e is not None]
    line = f"{len(estimates)} run(s) left"
    if known:
        line += f"; about {sum(known) / 3600:.1f} h for {len(known)} of them on this CPU"
    if len(known) < len(estimates):
        line += f" ({len(estimates) - len(known)} without a finished run of their arm on this CPU to estimate from)"
    return line
