"""Metric-vs-kimg curves from a training run's metrics log (JSON lines), and which direction is better.

Each log line is a JSON object with "kimg" and metric values, e.g. {"kimg": 200, "fid": 12.3, "kid": 0.004}.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

LOWER_IS_BETTER = ("fid", "kid", "rfid", "fid_crops", "lpips", "modes_kl", "modes_kl_marginal", "modes_tc",
                   "confident_top_class")
HIGHER_IS_BETTER = ("precision", "recall", "density", "coverage", "modes", "confident", "confident_classes",
                    "confident_all", "psnr", "ssim")
SPREAD_SUFFIX = "_std"


def metric_direction(key: str) -> str:
    """'min' or 'max' for a result key such as 'fid', 'kid@vgg16' or 'precision'."""
    base = key.split("@")[0]
    if base in LOWER_IS_BETTER:
        return "min"
    if base in HIGHER_IS_BETTER:
        return "max"
    raise KeyError(f"no known direction for metric '{key}'")


def spread_key(key: str) -> str:
    """The key holding a metric's std: 'kid' -> 'kid_std', 'kid@vgg16' -> 'kid_std@vgg16'."""
    base, at, ex = key.partition("@")
    return f"{base}{SPREAD_SUFFIX}{at}{ex}"


def is_better(key: str, new: float, best: float | None) -> bool:
    """True when `new` beats `best` (None = nothing yet) for metric `key`; NaN never wins."""
    if new is None or math.isnan(new):
        return False
    if best is None or math.isnan(best):
        return True
    return new < best if metric_direction(key) == "min" else new > best


def read_metric_log(jsonl_path: str | os.PathLike) -> list[dict]:
    """Records with a numeric "kimg", in file order; blank or malformed lines are skipped."""
    rows = []
    for line in Path(jsonl_path).read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and isinstance(row.get("kimg"), (int, float)):
            rows.append(row)
    return rows


def plot_metric_curves(jsonl_path: str | os.PathLike, out_png: str | os.PathLike,
                       metrics: list[str] | None = None) -> Path:
    """One panel per metric (value vs kimg, +-std band where logged, best point marked); returns out_png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_metric_log(jsonl_path)
    if metrics is None:
        seen: dict[str, None] = {}
        for row in rows:
            for k, v in row.items():
                if k != "kimg" and not k.split("@")[0].endswith(SPREAD_SUFFIX) and isinstance(v, (int, float)):
                    seen.setdefault(k)
        metrics = [k for k in seen if k.split("@")[0] in LOWER_IS_BETTER + HIGHER_IS_BETTER]
    if not metrics:
        raise ValueError(f"{jsonl_path} holds no metric values to plot")
    cols = min(3, len(metrics))
    nrows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.2 * nrows), squeeze=False)
    for ax, key in zip(axes.flat, metrics):
        pts = [(r["kimg"], r[key], r.get(spread_key(key))) for r in rows if isinstance(r.get(key), (int, float))]
        if not pts:
            ax.set_visible(False)
            continue
        x, y, spread = zip(*pts)
        ax.plot(x, y, marker="o", ms=3)
        if all(isinstance(s, (int, float)) for s in spread):
            ax.fill_between(x, [a - b for a, b in zip(y, spread)], [a + b for a, b in zip(y, spread)], alpha=0.2)
        best = min(pts, key=lambda p: p[1]) if metric_direction(key) == "min" else max(pts, key=lambda p: p[1])
        ax.plot([best[0]], [best[1]], marker="*", ms=12, color="tab:red", label=f"best {best[1]:.4g} @ {best[0]:g}")
        if key.split("@")[0] in ("fid", "rfid") and min(y) > 0:
            ax.set_yscale("log")
        ax.set_title(key)
        ax.set_xlabel("kimg")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(metrics):]:
        ax.set_visible(False)
    fig.tight_layout()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
