"""Mean ± std over seeds, and the "within noise" rule the results page applies to every comparison.

Rule (written on the page too): for one metric, two arms differ when |mean_a - mean_b| >= std_a + std_b, with
std the sample standard deviation (n - 1) over that arm's seeds; otherwise the difference is "within noise".
With fewer than two seeds in either arm there is no spread, and the comparison is "undetermined".
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from ganforge.metrics.curves import metric_direction

NOISE_RULE = ("two arms differ on a metric when |mean_a - mean_b| >= std_a + std_b (sample std over seeds); "
              "otherwise the difference is *within noise*; with fewer than 2 seeds in an arm it is *undetermined*")
# metrics the experiments add beside ganforge's evaluation suite: "min" / "max" is better; None: descriptive
EXTRA_DIRECTIONS: dict[str, str | None] = {"trajectory": "min", "fid_to_teacher": "min", "fid_all": "min",
                                           "params": "min", "macs": "min", "latency_ms": "min", "speedup": "max",
                                           "d_overfit": None, "kimg": None, "train_minutes": None}


@dataclass(frozen=True)
class Stat:
    """Mean, sample std and count of one metric over an arm's seeds."""

    mean: float
    std: float
    n: int

    def text(self, digits: int = 4) -> str:
        """'12.3 ± 0.4' (or just the mean for one seed)."""
        if self.n < 2:
            return f"{self.mean:.{digits}g}"
        return f"{self.mean:.{digits}g} ± {self.std:.2g}"


def direction(key: str) -> str | None:
    """'min' / 'max' when lower / higher is better for a result key, None when it has no better side."""
    base = key.split("@")[0]
    if base in EXTRA_DIRECTIONS:
        return EXTRA_DIRECTIONS[base]
    try:
        return metric_direction(key)
    except KeyError:
        return None


def mean_std(values: Iterable[float]) -> Stat:
    """Stat of the finite values (NaN / None dropped); std is 0 for one value, NaN for none."""
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not vals:
        return Stat(math.nan, math.nan, 0)
    return Stat(statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0, len(vals))


def summarize(finals: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, Stat]]:
    """{arm: [final metrics per seed]} -> {arm: {metric: Stat}} over the metrics every seed of that arm has."""
    out: dict[str, dict[str, Stat]] = {}
    for arm, runs in finals.items():
        keys = [k for k in runs[0] if all(k in r for r in runs)] if runs else []
        out[arm] = {k: mean_std(r[k] for r in runs if isinstance(r[k], (int, float))) for k in keys
                    if all(isinstance(r[k], (int, float)) for r in runs)}
    return out


def compare(key: str, a: Stat, b: Stat) -> str:
    """'a', 'b' (the better arm), 'noise' (inside the seeds' spread) or 'undetermined' (no spread / no direction)."""
    better = direction(key)
    if better is None or a.n < 2 or b.n < 2 or math.isnan(a.mean) or math.isnan(b.mean):
        return "undetermined"
    if abs(a.mean - b.mean) < a.std + b.std:
        return "noise"
    return "a" if (a.mean < b.mean) == (better == "min") else "b"


def describe(key: str, name_a: str, a: Stat, name_b: str, b: Stat) -> str:
    """One sentence: which arm is better on `key`, or that the difference is within noise."""
    result = compare(key, a, b)
    gap = f"{a.text()} vs {b.text()}"
    if result == "noise":
        return f"{key}: {name_a} and {name_b} are within noise ({gap})"
    if result == "undetermined":
        return f"{key}: {name_a} vs {name_b} undetermined ({gap}; needs 2+ seeds each and a better direction)"
    winner = name_a if result == "a" else name_b
    return f"{key}: {winner} is better ({gap})"


def verdict(key: str, claimed_better: Stat | None, claimed_worse: Stat | None) -> str:
    """'holds', 'fails', 'within noise at this scale', 'undetermined' or 'not run yet' for "better beats worse"."""
    if claimed_better is None or claimed_worse is None or claimed_better.n == 0 or claimed_worse.n == 0:
        return "not run yet"
    return {"a": "holds", "b": "fails", "noise": "within noise at this scale",
            "undetermined": "undetermined"}[compare(key, claimed_better, claimed_worse)]


__all__ = ["EXTRA_DIRECTIONS", "NOISE_RULE", "Stat", "compare", "describe", "direction", "mean_std", "summarize",
           "verdict"]
