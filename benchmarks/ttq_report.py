"""The time-to-quality report: the markdown table (each point's metrics and FID / real floor) and the quality plot
(one panel per metric against training minutes) of a benchmarks/time_to_quality.py results.json."""

from __future__ import annotations

import math
from pathlib import Path

FID_KEY = "fid@classifier-mnist"


def table_keys(metrics: str) -> list[str]:
    """The metric keys the table and plot show (spreads and mode totals left out)."""
    from ganforge.metrics import result_keys

    return [k for k in result_keys(metrics) if "_std" not in k and not k.startswith("modes_total")]


def fmt(value: float | None) -> str:
    """A table cell: 4 significant digits, empty for a missing value."""
    return "" if value is None else f"{value:.4g}"


def markdown_table(results: dict) -> str:
    """One row per evaluation point of every configuration, below the real floor's row."""
    keys = table_keys(results["metrics_spec"])
    floor = results["floor"]["metrics"]
    head = ["config", "minutes", "kimg", "s/kimg", *keys, "FID/floor"]
    rows = [["real floor (A vs B)", "", "", "", *(fmt(floor.get(k)) for k in keys), "1"]]
    for name, state in results["configs"].items():
        for e in state["evals"]:
            ratio = e["metrics"][FID_KEY] / floor[FID_KEY] if floor.get(FID_KEY) else None
            rows.append([name, f"{e['minutes']:g}", f"{e['kimg']:.2f}", f"{e['s_per_kimg']:.1f}",
                         *(fmt(e["metrics"].get(k)) for k in keys), fmt(ratio)])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


def plot_quality(results: dict, path: Path) -> None:
    """One panel per metric: value vs training minutes, one curve per config, the real floor dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = table_keys(results["metrics_spec"])
    cols = min(3, len(keys))
    fig, axes = plt.subplots(math.ceil(len(keys) / cols), cols, figsize=(4.2 * cols, 3.2 * math.ceil(len(keys) / cols)),
                             squeeze=False)
    for ax, key in zip(axes.flat, keys):
        values = []
        for name, state in results["configs"].items():
            pts = [(e["train_minutes"], e["metrics"][key]) for e in state["evals"] if key in e["metrics"]]
            if pts:
                ax.plot(*zip(*pts), marker="o", ms=3, label=name)
                values += [v for _, v in pts]
        floor = results["floor"]["metrics"].get(key)
        if floor is not None:
            ax.axhline(floor, ls="--", color="gray", label="real floor")
            values.append(floor)
        if key.startswith("fid") and values and min(values) > 0:
            ax.set_yscale("log")
        ax.set_title(key)
        ax.set_xlabel("training minutes")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(f"time to quality on {results['data']} ({results['floor']['num']} samples vs real half B)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
