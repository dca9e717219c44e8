"""Re-evaluate a finished time-to-quality run from its kept checkpoints, e.g. after a metric's definition changed.

Usage:
    python benchmarks/ttq_reevaluate.py --out results/ttq-mnist

Every recorded point whose checkpoint still exists (train with keep_checkpoints large enough) gets its metrics
recomputed on the same samples (seed 0) against the same real half B; the real floor is recomputed too. Timing
fields stay as measured. results.json, table.md and quality.png are rewritten.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import torch

_spec = importlib.util.spec_from_file_location("time_to_quality", Path(__file__).with_name("time_to_quality.py"))
ttq = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ttq)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="the --out folder of a time_to_quality.py run")
    p.add_argument("--eval-batch", type=int, default=250)
    args = p.parse_args(argv)

    from ganforge import load_generator
    from ganforge.data import load_dataset
    from ganforge.metrics import EvalOptions, evaluate_generator

    out = Path(args.out)
    results_path = out / "results.json"
    if not results_path.is_file():
        raise SystemExit(f"{results_path} not found: point --out at a time_to_quality.py output folder")
    results = ttq.json.loads(results_path.read_text())
    data = load_dataset(results["data"])
    half_a, ref = ttq.real_halves(data, results["num"])
    metrics, opts = results["metrics_spec"], EvalOptions(disk_cache=False, batch_size=args.eval_batch)
    results["floor"] = ttq.compute_floor(results["data"], half_a, ref, metrics, opts)
    missing = []
    for name, state in results["configs"].items():
        for e in state["evals"]:
            ckpt = out / "runs" / name / e["checkpoint"]
            if not (ckpt / "state.json").is_file():
                missing.append(f"{name}@{e['minutes']:g}min")
                continue
            t0 = time.perf_counter()
            G = load_generator(ckpt)
            e["metrics"] = evaluate_generator(G, ref, metrics, num=results["num"], seed=0, options=opts)
            e["eval_s"] = time.perf_counter() - t0
            print(f"[{name}] {e['minutes']:g} min re-evaluated", flush=True)
    results["reevaluated"] = ttq.now()
    ttq.write_json(results_path, results)
    (out / "table.md").write_text(ttq.markdown_table(results))
    ttq.plot_quality(results, out / "quality.png")
    print(ttq.markdown_table(results))
    if missing:
        print(f"not re-evaluated (checkpoint pruned): {', '.join(missing)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    sys.exit(main())
