"""Re-evaluate a finished time-to-quality run from its kept checkpoints, e.g. after a metric's definition changed.

Usage:
    python benchmarks/ttq_reevaluate.py --out results/ttq-mnist [--ema h50]

Every recorded point whose checkpoint still exists (train with keep_checkpoints large enough) gets its metrics
recomputed on the same samples (seed 0) against the same real half B; the real floor is recomputed too. Timing
fields stay as measured. results.json, table.md and quality.png are rewritten.

--ema NAME scores an extra EMA of the run instead (a configuration trained with schedule.ema_extra_kimg, e.g.
[50] -> h50): its points become the curve NAME@ema-h50 beside the original curves and floor, which stay as recorded
(re-evaluate without --ema first if a metric changed), in results-ema-h50.json, table-ema-h50.md and
quality-ema-h50.png; the original files are left alone.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

_spec = importlib.util.spec_from_file_location("time_to_quality", Path(__file__).with_name("time_to_quality.py"))
ttq = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ttq)


def reevaluated(run: Path, name: str, evals: list[dict], ema: bool | str, ref: SimpleNamespace, results: dict,
                opts: Any, missing: list[str]) -> list[dict | None]:
    """Each evaluation recomputed from its kept checkpoint with generator `ema` (True: G_ema; a label such as 'h50':
    that extra EMA); None where the checkpoint is gone or lacks that EMA (named in `missing`)."""
    from ganforge import load_generator
    from ganforge.metrics import evaluate_generator
    from ganforge.training.ema import extra_ema_labels

    out: list[dict | None] = []
    for e in evals:
        ckpt = run / e["checkpoint"]
        if not (ckpt / "state.json").is_file() or (ema is not True and ema not in extra_ema_labels(ckpt)):
            missing.append(f"{name}@{e['minutes']:g}min")
            out.append(None)
            continue
        t0 = time.perf_counter()
        G = load_generator(ckpt, ema=ema)
        metrics = evaluate_generator(G, ref, results["metrics_spec"], num=results["num"], seed=0, options=opts)
        out.append({**e, "metrics": metrics, "eval_s": time.perf_counter() - t0})
        print(f"[{name}] {e['minutes']:g} min re-evaluated{'' if ema is True else f' with EMA {ema}'}", flush=True)
    return out


def with_ema_curves(out: Path, results: dict, label: str, ref: SimpleNamespace, opts: Any,
                    missing: list[str]) -> dict:
    """results with a curve NAME@ema-LABEL after each configuration that kept that extra EMA."""
    from ganforge.training.ema import extra_ema_labels

    configs = {}
    for name, state in results["configs"].items():
        configs[name] = state
        evals = [e for e in reevaluated(out / "runs" / name, name, state["evals"], label, ref, results, opts,
                                        missing) if e is not None]
        if evals:
            configs[f"{name}@ema-{label}"] = {**state, "name": f"{name}@ema-{label}", "ema": label, "evals": evals}
    if len(configs) == len(results["configs"]):
        have = sorted({h for c in out.glob("runs/*/ckpt-*") for h in extra_ema_labels(c)})
        raise SystemExit(f"no kept checkpoint in {out}/runs has the EMA '{label}' (they have "
                         f"{', '.join(have) or 'none'}); training with schedule.ema_extra_kimg=[N] keeps an EMA hN")
    return {**results, "configs": configs, "ema": label}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="the --out folder of a time_to_quality.py run")
    p.add_argument("--eval-batch", type=int, default=250)
    p.add_argument("--ema", metavar="NAME", help="score this extra EMA (e.g. h50) into results-ema-NAME.json etc.")
    args = p.parse_args(argv)

    from ganforge.data import load_dataset
    from ganforge.metrics import EvalOptions
    from ganforge.training.ema import EXTRA_PREFIX

    out = Path(args.out)
    results_path = out / "results.json"
    if not results_path.is_file():
        raise SystemExit(f"{results_path} not found: point --out at a time_to_quality.py output folder")
    results = ttq.json.loads(results_path.read_text())
    data = load_dataset(results["data"])
    half_a, ref = ttq.real_halves(data, results["num"])
    opts = EvalOptions(disk_cache=False, batch_size=args.eval_batch)
    missing: list[str] = []
    if args.ema:
        label = args.ema.removeprefix(EXTRA_PREFIX)
        results, suffix = with_ema_curves(out, results, label, ref, opts, missing), f"-ema-{label}"
    else:
        results["floor"] = ttq.compute_floor(results["data"], half_a, ref, results["metrics_spec"], opts)
        for name, state in results["configs"].items():
            new = reevaluated(out / "runs" / name, name, state["evals"], True, ref, results, opts, missing)
            state["evals"] = [n or e for n, e in zip(new, state["evals"])]
        suffix = ""
    results["reevaluated"] = ttq.now()
    ttq.write_json(out / f"results{suffix}.json", results)
    (out / f"table{suffix}.md").write_text(ttq.markdown_table(results))
    ttq.plot_quality(results, out / f"quality{suffix}.png")
    print(ttq.markdown_table(results))
    if missing:
        print(f"not re-evaluated (checkpoint pruned{' or without that EMA' if args.ema else ''}): "
              f"{', '.join(missing)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    sys.exit(main())
