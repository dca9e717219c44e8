"""When does a time-to-quality curve reach its target? A saturating power-law fit of each measured curve.

    python benchmarks/ttq_extrapolate.py --out results/ttq-wide --target modes>=900 --target modes_kl<=0.3

Each configuration's points (training minutes, metric) from `benchmarks/time_to_quality.py` are fitted with
y(t) = y_inf + b * t**-c (c > 0), the usual shape of a learning curve (e.g. Hestness et al. 2017), by least squares
(scipy). The table gives the fitted asymptote y_inf and the minute at which the fit crosses the target: "never" when
the asymptote itself misses it. `--floor-multiple` targets are relative to the real-data floor in results.json
(mnist5k's target is FID within 3x the floor: `--target fid@classifier-mnist<=3floor`). A fit of a handful of
noisy points is a rough guide, so the table also prints the fit's residual and the last measured point.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import curve_fit

_TARGET = re.compile(r"^(?P<key>[^<>=]+)(?P<op><=|>=)(?P<value>[0-9.eE+-]+)(?P<floor>floor)?$")


@dataclass(frozen=True)
class Target:
    key: str
    op: str  # "<=" (lower is better) or ">="
    value: float
    of_floor: bool = False  # value is a multiple of the real-data floor

    @classmethod
    def parse(cls, text: str) -> Target:
        m = _TARGET.match(text.replace(" ", ""))
        if m is None:
            raise ValueError(f"target {text!r} is not KEY<=VALUE, KEY>=VALUE or KEY<=MULTIPLEfloor "
                             "(e.g. modes>=900, fid@classifier-mnist<=3floor)")
        return cls(m["key"], m["op"], float(m["value"]), bool(m["floor"]))

    def threshold(self, floor: dict) -> float:
        if not self.of_floor:
            return self.value
        if self.key not in floor:
            raise ValueError(f"results.json has no real-data floor for {self.key!r}")
        return self.value * float(floor[self.key])

    def met(self, y: float, threshold: float) -> bool:
        return y <= threshold if self.op == "<=" else y >= threshold


# The values each metric can take: a fitted asymptote outside them (e.g. 3,000 of 1,000 modes) means nothing.
RANGES: dict[str, tuple[float, float]] = {
    "modes": (0.0, 1000.0), "confident": (0.0, 1.0), "confident_all": (0.0, 1.0), "confident_label": (0.0, 1.0),
    "precision@classifier-mnist": (0.0, 1.0), "recall@classifier-mnist": (0.0, 1.0),
}


def power_law(t: np.ndarray, y_inf: float, b: float, c: float) -> np.ndarray:
    return y_inf + b * np.power(t, -c)


def fit_curve(t: np.ndarray, y: np.ndarray, lo: float = -math.inf, hi: float = math.inf
              ) -> tuple[float, float, float, float]:
    """(y_inf, b, c, rms residual) of the least-squares power-law fit, the asymptote kept inside the metric's range
    [lo, hi] and c in [0.05, 5]."""
    b0 = (y[0] - y[-1]) * t[0] ** 0.5 or 1.0
    y0 = float(min(max(y[-1], lo + 1e-9), hi - 1e-9))  # curve_fit needs a start strictly inside the bounds
    params, _ = curve_fit(power_law, t, y, p0=(y0, b0, 0.5), bounds=([lo, -np.inf, 0.05], [hi, np.inf, 5.0]),
                          maxfev=20_000)
    rms = float(np.sqrt(np.mean((power_law(t, *params) - y) ** 2)))
    return float(params[0]), float(params[1]), float(params[2]), rms


def crossing_minutes(y_inf: float, b: float, c: float, threshold: float) -> float:
    """The t > 0 where y_inf + b t^-c equals threshold; inf when the curve never gets there."""
    gap = threshold - y_inf
    if gap == 0 or b == 0 or (gap > 0) != (b > 0):
        return math.inf  # the asymptote misses the threshold (or sits on it)
    return (b / gap) ** (1.0 / c)


def extrapolate(results: dict, target: Target, skip_before: float = 0.0) -> list[dict]:
    """One row per configuration of a time_to_quality results.json: fit, asymptote and crossing minute."""
    threshold = target.threshold((results.get("floor") or {}).get("metrics", {}))
    lo, hi = RANGES.get(target.key, (0.0, math.inf))
    rows = []
    for name, conf in results["configs"].items():
        pts = [(e["minutes"], e["metrics"][target.key]) for e in conf.get("evals", [])
               if target.key in e.get("metrics", {}) and e["minutes"] >= skip_before]
        row = {"config": name, "metric": target.key, "target": f"{target.op} {threshold:.4g}", "points": len(pts)}
        if len(pts) < 4:
            rows.append({**row, "note": "fewer than 4 points: no fit"})
            continue
        t, y = np.array([p[0] for p in pts], float), np.array([p[1] for p in pts], float)
        y_inf, b, c, rms = fit_curve(t, y, lo, hi)
        met_at = next((m for m, v in pts if target.met(v, threshold)), None)
        cross = crossing_minutes(y_inf, b, c, threshold)
        row.update(last=f"{y[-1]:.4g} at {t[-1]:g} min", y_inf=y_inf, c=c, rms=rms,
                   reached=met_at, minutes=None if math.isinf(cross) else cross)
        rows.append(row)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| config | metric | target | last measured | fitted asymptote | exponent c | fit rms | reaches it at |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "note" in r:
            lines.append(f"| {r['config']} | {r['metric']} | {r['target']} | | | | | {r['note']} |")
            continue
        if r["reached"] is not None:
            when = f"measured at {r['reached']:g} min"
        else:
            when = "never (asymptote misses it)" if r["minutes"] is None else f"~{r['minutes']:.0f} min (fit)"
        lines.append(f"| {r['config']} | {r['metric']} | {r['target']} | {r['last']} | {r['y_inf']:.4g} | "
                     f"{r['c']:.2f} | {r['rms']:.3g} | {when} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="a benchmarks/time_to_quality.py output folder (holds results.json)")
    p.add_argument("--target", action="append", required=True, help="KEY<=VALUE, KEY>=VALUE or KEY<=Nfloor")
    p.add_argument("--skip-before", type=float, default=0.0, help="ignore points before this many minutes")
    args = p.parse_args(argv)
    path = Path(args.out) / "results.json"
    if not path.is_file():
        print(f"error: {path} not found; --out must be a time_to_quality.py output folder", file=sys.stderr)
        return 2
    try:
        targets = [Target.parse(t) for t in args.target]
        results = json.loads(path.read_text())
        rows = [r for t in targets for r in extrapolate(results, t, args.skip_before)]
    except (ValueError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
