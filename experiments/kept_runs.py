"""Finished runs the results page keeps in the repository (docs/results/<experiment>/experiment.json): an
experiment whose results folder is gone, e.g. on a new machine, takes them instead of training them again.

A kept run is taken only into a results folder that has no run of that key, and only when it was made exactly as
this command would make it: the same arm settings and budget, and for time-to-quality runs the same training
arguments. Its files (checkpoint, run folder) are not there, so it is marked `kept`: --redo-post-eval skips it, and
another experiment never shares it (shared_runs needs its checkpoint)."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path

from shared_runs import RESULTS_FILE, training_args

ROOT = Path(__file__).resolve().parents[1]
KEPT_ROOT = ROOT / "docs" / "results"
ArgvOf = Callable[[int], list[str] | None]  # seed -> a run's time_to_quality.py arguments (None: not a ttq arm)


def portable(value: object, folders: tuple[str, ...] = ()) -> object:
    """`value` with the checkout's prefix dropped from its paths, as the page keeps them, and the experiment's
    results folder (any spelling in `folders`) written as {out}: arms name files of their own earlier runs."""
    text = json.dumps(value)
    for folder in sorted({f for f in folders if f}, key=len, reverse=True):
        text = text.replace(folder, "{out}")
    return json.loads(text.replace(str(ROOT) + "/", ""))


def out_of(command: str) -> str:
    """The --out folder of an experiment command ('' without one)."""
    args = shlex.split(command)
    return args[args.index("--out") + 1] if "--out" in args[:-1] else ""


def same_run(run: dict, budget: float, ttq_argv: list[str] | None) -> bool:
    """`run` (a kept record's run, of an arm with the same settings) is what a run of `budget` would train now;
    `ttq_argv`: this run's time_to_quality.py arguments (None for a `ganforge compress` / `train` arm)."""
    if run.get("status") not in ("done", "diverged") or not run.get("post_eval_done"):
        return False
    if abs(float(run.get("budget", -1)) - budget) > 1e-9:
        return False
    if ttq_argv is None:
        return run.get("kind") in ("compress", "train")
    command = run.get("ttq_command")
    return run.get("kind") == "ttq" and bool(command) and \
        training_args(shlex.split(command)[2:]) == portable(training_args(ttq_argv))


def adopt_kept(record: dict, name: str, wanted: dict[str, tuple[dict, float, ArgvOf]], out: Path,
               kept_root: Path | None = None) -> list[str]:
    """Copy into `record` (of results folder `out`) the kept runs of experiment `name` that `record` lacks and that
    match `wanted` ({arm: (arm settings, budget, seed -> ttq argv or None)}); returns their keys. The kept machine
    description goes into each taken run, since the record's own describes this machine."""
    path = (kept_root or KEPT_ROOT) / name / RESULTS_FILE
    kept = json.loads(path.read_text()) if path.is_file() else {}
    if kept.get("experiment") != name:
        return []
    runs, taken = record.setdefault("runs", {}), []
    here, there = (str(out.resolve()), str(out)), (out_of(kept.get("command", "")),)
    for key, run in kept.get("runs", {}).items():
        arm, then = run.get("arm"), kept.get("arms", {}).get(run.get("arm"), {})
        if key in runs or arm not in wanted:
            continue
        settings, budget, argv_of = wanted[arm]
        settings, then = portable(settings, here), portable(then, there)
        if {k: then.get(k) for k in settings} != settings or not same_run(run, budget, argv_of(run["seed"])):
            continue
        runs[key] = {**run, "kept": True, "system": run.get("system", kept.get("system", {}))}
        taken.append(key)
    if taken and "floor" in kept:
        record.setdefault("floor", kept["floor"])
    return taken
