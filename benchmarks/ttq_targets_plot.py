"""The time-to-quality targets in one figure: each curve of the given time_to_quality.py results against its target.

Panels: mnist5k FID@classifier as a multiple of the real floor (target 3x in 30 minutes), Stacked-MNIST modes
(target 900) and reverse KL (target 0.3) in 120 minutes. Every config of every results file is one curve.

    python benchmarks/ttq_targets_plot.py --out docs/time_to_quality/targets.png \
        --mnist docs/time_to_quality/probes-mnist5k/cond-wided/results.json \
        --stacked docs/time_to_quality/stacked-mnist-d128/results.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

PANELS = (  # (results group, metric, y label, target, minutes budget, divide by the real floor)
    ("mnist", "fid@classifier-mnist", "mnist5k: FID@classifier / real floor", 3.0, 30, True),
    ("stacked", "modes", "Stacked MNIST: modes of 1,000", 900.0, 120, False),
    ("stacked", "modes_kl", "Stacked MNIST: reverse KL", 0.3, 120, False),
)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mnist", nargs="*", default=[], help="results.json files of mnist5k runs")
    p.add_argument("--stacked", nargs="*", default=[], help="results.json files of Stacked-MNIST runs")
    p.add_argument("--out", required=True, help="PNG to write")
    return p.parse_args(argv)


def machine_tag(results: dict) -> str:
    """The SIMD level of the CPU a results file was measured on: minutes on different CPUs are not comparable."""
    cpu = results.get("system", {}).get("cpu", {})
    return "AVX-512" if cpu.get("avx512f") else "AVX2" if cpu.get("avx2") else "other CPU"


def curves(paths: list[str], key: str, per_floor: bool) -> list[tuple[str, list[float], list[float]]]:
    """(config name, seed when not 0, and CPU; minutes; values) of every config in the files, values divided by the
    floor when asked."""
    out = []
    for path in paths:
        results = json.loads(Path(path).read_text())
        floor = results["floor"]["metrics"][key] if per_floor else 1.0
        tag = machine_tag(results)
        for name, state in results["configs"].items():
            pts = [(e["train_minutes"], e["metrics"][key] / floor) for e in state["evals"] if key in e["metrics"]]
            seed = state.get("config", {}).get("seed", 0)  # seeds of one recipe are told apart
            if pts:
                minutes, values = zip(*pts)
                out.append((f"{name}{f', seed {seed}' if seed else ''} ({tag})", list(minutes), list(values)))
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    groups = {"mnist": args.mnist, "stacked": args.stacked}
    for paths in groups.values():
        missing = [p for p in paths if not Path(p).is_file()]
        if missing:
            print(f"ttq_targets_plot: no such results file: {missing[0]} (time_to_quality.py --out writes it)",
                  file=sys.stderr)
            return 2
    panels = [panel for panel in PANELS if groups[panel[0]]]
    if not panels:
        print("ttq_targets_plot: give --mnist and/or --stacked results files", file=sys.stderr)
        return 2
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 3.4), squeeze=False)
    for ax, (group, key, label, target, budget, per_floor) in zip(axes[0], panels):
        for name, minutes, values in curves(groups[group], key, per_floor):
            ax.plot(minutes, values, marker="o", ms=3, label=name)
        ax.axhline(target, ls="--", color="red", lw=1, label=f"target {target:g}")
        low, high = ax.get_ylim()
        ax.set_ylim(min(low, 0.9 * target), max(high, 1.05 * target))  # the target line stays inside the panel
        ax.axvline(budget, ls=":", color="gray", lw=1)
        if per_floor:
            ax.set_yscale("log")
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("training minutes (2 CPU cores)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=100)
    plt.close(fig)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
