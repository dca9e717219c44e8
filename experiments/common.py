"""Shared machinery of the claim experiments: every (arm, seed) runs one after the other and resumably, and
everything the results page needs (commands, wall times, CPU, final metrics, curves, grids) goes into one JSON
file per experiment, <out>/experiment.json, with paths relative to <out>.

Training arms run through benchmarks/time_to_quality.py (imported, in-process, one configuration per call, all
of an experiment's runs in <out>/ttq): its resume, evaluation points, real-data floor and grids are reused. Its
points count training minutes, or with `unit="kimg"` (equal images seen between arms) kimg (its `--kimg`).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from estimate import arm_wall, left_line, stamp_machine
from kept_runs import ROOT, adopt_kept
from resumable import resumable
from shared_runs import RESULTS_FILE, shared_run
from wallclock import WallClock, left_by_killed_session

DEFAULT_SEEDS = "0,1,2"
_TTQ: list[ModuleType] = []


@dataclass
class Arm:
    """One arm: ganforge config overrides for a time-to-quality training run, `compress` flags for a `ganforge
    compress` run, or `train` flags for a plain `ganforge train` run (tasks the ttq machinery does not cover, e.g.
    super-resolution)."""

    name: str
    overrides: list[str] = field(default_factory=list)
    compress: list[str] | None = None
    label: str = ""
    budget: float | None = None  # this arm's length (default: the experiment's)
    every: float | None = None
    train: list[str] | None = None  # (compress and train flags may hold "{seed}": the run's seed)
    seeds: list[int] | None = None  # the seeds this arm always runs (e.g. one teacher), whatever --seeds says
    same_as: str | None = None  # "<experiment>/<arm>": take that experiment's identical finished run (shared_runs)


@dataclass
class PaperRow:
    """A number from the paper, with where it comes from, and the arm of ours it is set beside."""

    arm: str
    metric: str
    value: float | str
    source: str


@dataclass
class Check:
    """One sentence of the claim: arm `better` beats arm `worse` on `metric` (the verdict's test)."""

    text: str
    better: str
    worse: str
    metric: str


@dataclass
class Experiment:
    """An experiment: its arms, budget and evaluation points, plus a hook for metrics beyond the ttq points."""

    name: str
    data: str
    arms: list[Arm]
    unit: str  # "kimg" (equal images seen) or "minutes" (equal training time)
    budget: float
    every: float
    post_eval: Callable[[Experiment, dict, argparse.Namespace, Path], dict[str, Any]] | None = None
    notes: dict[str, Any] = field(default_factory=dict)


def load_ttq() -> ModuleType:
    """benchmarks/time_to_quality.py as a module (loaded once, so patches and callers share it)."""
    if not _TTQ:
        spec = importlib.util.spec_from_file_location("time_to_quality", ROOT / "benchmarks" / "time_to_quality.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _TTQ.append(module)
    return _TTQ[0]


def parse_args(name: str, argv: list[str] | None, add_args: Callable[[argparse.ArgumentParser], None] | None = None,
               doc: str = "") -> argparse.Namespace:
    """The flags every experiment script has, plus its own (add_args)."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0], epilog=doc,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=f"results/experiments/{name}", help="results folder (rerun it to resume)")
    p.add_argument("--seeds", default=DEFAULT_SEEDS, help="comma list of training seeds")
    p.add_argument("--arms", help="comma list: run only these arms (default: all)")
    p.add_argument("--budget", type=float, help="length of every arm in the experiment's unit (kimg or minutes)")
    p.add_argument("--every", type=float, help="evaluation points every this many units")
    p.add_argument("--num", type=int, help="samples per evaluation and real half (default: ttq's, half the data)")
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    p.add_argument("--dry-run", action="store_true", help="list the runs, their state and the time they would "
                   "take here (from finished runs of their arm on this CPU kind); train nothing")
    p.add_argument("--redo-post-eval", action="store_true", dest="redo_post_eval",
                   help="evaluate finished runs again (e.g. after a metric was added), without training them")
    if add_args:
        add_args(p)
    return p.parse_args(argv)


def write_json(path: Path, data: dict) -> None:
    """Atomic JSON write (a crash never leaves half a file)."""
    load_ttq().write_json(path, data)


def relative(path: str | Path) -> str:
    """A path as shown in records: relative to the repository root when inside it, else as given."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def script_command(name: str, argv: list[str]) -> str:
    """The command that reruns this experiment, with repository-relative paths (a re-scoring flag left out)."""
    args = [relative(a) if Path(a).is_absolute() else a for a in argv if a != "--redo-post-eval"]
    return shlex.join(["python", f"experiments/{name}.py", *args])


def load_record(out: Path) -> dict:
    path = out / RESULTS_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def arm_budget(exp: Experiment, arm: Arm, args: argparse.Namespace) -> float:
    """An arm's length: its own, else --budget, else the experiment's."""
    return arm.budget or args.budget or exp.budget


def ttq_argv(exp: Experiment, arm: Arm, seed: int, args: argparse.Namespace, out: Path) -> list[str]:
    """The time_to_quality.py arguments of one (arm, seed): one configuration named <arm>-s<seed>."""
    budget = arm_budget(exp, arm, args)
    every = min(arm.every or args.every or exp.every, budget)
    argv = ["--data", exp.data, f"--{exp.unit}", f"{budget:g}", "--eval-every", f"{every:g}", "--out", str(out / "ttq"),
            "--seed", str(seed), "--config", f"{arm.name}-s{seed}={shlex.join(arm.overrides)}"]
    argv += ["--num", str(args.num)] if args.num else []
    return argv + (["--threads", str(args.threads)] if args.threads else [])


def ttq_argv_of(exp: Experiment, arm: Arm, args: argparse.Namespace, out: Path) -> Callable[[int], list[str] | None]:
    """seed -> the arm's time_to_quality.py arguments; None for a compress / train arm."""
    ttq = arm.compress is None and arm.train is None
    return lambda seed: ttq_argv(exp, arm, seed, args, out) if ttq else None


def finished(state: dict | None, budget: float) -> bool:
    """A ttq configuration state that has evaluated its last point (or diverged)."""
    if not state:
        return False
    if state.get("diverged"):
        return True
    done = bool(state["evals"]) and load_ttq().point_of(state["evals"][-1]) >= budget - 1e-9
    return done and not state.get("pending")


def run_ttq_arm(exp: Experiment, arm: Arm, seed: int, args: argparse.Namespace, out: Path) -> dict:
    """Train (or continue) one (arm, seed) with the time-to-quality machinery; returns its run record."""
    ttq = load_ttq()
    argv = ttq_argv(exp, arm, seed, args, out)
    name = f"{arm.name}-s{seed}"
    ttq.main(argv)
    results = json.loads((out / "ttq" / "results.json").read_text())
    state = results["configs"][name]
    evals = state["evals"]
    last = evals[-1] if evals else {}
    run_dir = out / "ttq" / "runs" / name
    record = {"kind": "ttq", "status": "diverged" if state.get("diverged") else "done",
              "diverged": state.get("diverged"), "budget": float(argv[argv.index(f"--{exp.unit}") + 1]),
              "unit": exp.unit, "overrides": arm.overrides, "params": state.get("params"),
              "train_s": state["elapsed_s"], "kimg": state["nimg"] / 1000,
              "final": dict(last.get("metrics", {})),
              "curve": [{"kimg": e["kimg"], "train_minutes": e["train_minutes"], "metrics": e["metrics"]}
                        for e in evals],
              "grid": str((run_dir / last["grid"]).relative_to(out)) if last else None,
              "checkpoint": str((run_dir / last["checkpoint"]).relative_to(out)) if last else None}
    record["ttq_command"] = shlex.join(["python", "benchmarks/time_to_quality.py",
                                        *[relative(a) if Path(a).is_absolute() else a for a in argv]])
    return record


class Stopped(Exception):
    """A run that a signal stopped before its budget: the experiment stops too, and a rerun continues it."""


def run_cli_arm(exp: Experiment, arm: Arm, seed: int, args: argparse.Namespace, out: Path) -> dict:
    """One `ganforge compress` (arm.compress) or `ganforge train` (arm.train) run, in-process, "{seed}" in its flags
    replaced by the seed (e.g. a per-seed --init-from): an unfinished run continues from its checkpoint where it can
    (resumable), else it restarts (--overwrite); so does a compression run whose resume is refused (e.g. its teacher
    changed, or a longer budget moves a finished stage's end)."""
    from ganforge.cli.main import main
    from ganforge.training.checkpoint import list_checkpoints, read_state

    command = "compress" if arm.compress is not None else "train"
    run_dir = out / command / f"{arm.name}-s{seed}"
    budget = arm_budget(exp, arm, args)
    flags = [f.replace("{seed}", str(seed)) for f in (arm.compress if command == "compress" else arm.train) or []]
    fresh = [command, *flags, "--out", str(run_dir), "--kimg", f"{budget:g}", "--seed", str(seed), "--overwrite"]
    resume = resumable(run_dir, command, flags, seed)
    argv = [command, "--resume", str(run_dir), "--kimg", f"{budget:g}"] if resume else fresh
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    code = main(argv)
    if code == 2 and resume and (run_dir / "compress.json").is_file():  # a GAN compression run's resume refused
        print(f"cannot continue {relative(run_dir)} (the line above says why); starting it over", flush=True)
        argv = fresh
        code = main(argv)
    if code:
        raise RuntimeError(f"ganforge {command} exited with {code}: {shlex.join(argv)}")
    ckpts = list_checkpoints(run_dir)
    reached = read_state(ckpts[-1])["cur_nimg"] if ckpts else 0
    if reached < budget * 1000:  # SIGINT/SIGTERM: the run checkpointed and returned early
        raise Stopped(f"{relative(run_dir)} stopped at {reached / 1000:g} of {budget:g} kimg")
    grids = sorted((run_dir / "samples").glob("grid-*.png"))
    return {"kind": command, "status": "done", "budget": budget, "unit": "kimg", "train_s": time.perf_counter() - t0,
            "kimg": budget, f"{command}_command": shlex.join(["ganforge", *[relative(a) for a in argv]]),
            "final": {}, "curve": [], "grid": str(grids[-1].relative_to(out)) if grids else None,
            "checkpoint": str(run_dir.relative_to(out))}


def system_info() -> dict:
    from ganforge.utils import perf

    cpu = perf.cpu_info()
    return {"cpu": {k: v for k, v in cpu.items() if k != "flags"}, "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "python": sys.version.split()[0]}


def run_done(rec: dict | None, budget: float) -> bool:
    """A run record that is complete for this budget, post-evaluation included."""
    return bool(rec) and rec.get("status") in ("done", "diverged") and rec.get("budget", 0) >= budget - 1e-9 \
        and rec.get("post_eval_done", False)


def arm_settings(arm: Arm) -> dict:
    """What defines an arm's runs, as recorded in the results file (JSON round trip: tuples become lists)."""
    return json.loads(json.dumps({"overrides": arm.overrides, "compress": arm.compress, "train": arm.train}))


def refuse_changed_arms(record: dict, arms: list[Arm], out: Path) -> None:
    """Stop when a folder holds runs of an arm made with other settings (e.g. another --base): resuming would mix
    them with, or skip in favour of, runs of a different configuration."""
    for arm in arms:
        old, now = record.get("arms", {}).get(arm.name), arm_settings(arm)
        ran = any(key.split("/")[0] == arm.name for key in record.get("runs", {}))
        if old and ran and {k: old.get(k) for k in now} != now:
            raise SystemExit(f"{out} holds runs of arm '{arm.name}' made with other settings ({old['overrides']} "
                             f"there, {arm.overrides} now); use another --out, or delete the folder to start over")


def run_experiment(exp: Experiment, args: argparse.Namespace, argv: list[str]) -> int:
    """Run every (arm, seed) in turn, skipping finished ones; the record is rewritten after every run."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    record = load_record(out)
    if record and record.get("experiment") != exp.name:
        raise SystemExit(f"{out} holds the results of '{record.get('experiment')}'; use another --out")
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    wanted = set(args.arms.split(",")) if args.arms else None
    unknown = (wanted or set()) - {a.name for a in exp.arms}
    if unknown:
        raise SystemExit(f"--arms: unknown arm(s) {sorted(unknown)}; this experiment has "
                         f"{', '.join(a.name for a in exp.arms)}")
    arms = [a for a in exp.arms if wanted is None or a.name in wanted]
    refuse_changed_arms(record, arms, out)
    budgets = {a.name: arm_budget(exp, a, args) for a in arms}
    taken = adopt_kept(record, exp.name, {a.name: (arm_settings(a), budgets[a.name], ttq_argv_of(exp, a, args, out))
                                          for a in arms}, out)
    for key in taken:
        print(f"[{key}] finished earlier, taken from the record the results page keeps", flush=True)
    stamp_machine(record)
    record.update(experiment=exp.name, data=exp.data, unit=exp.unit, seeds=sorted(set(record.get("seeds", [])) |
                  set(seeds)), command=script_command(exp.name, argv), system=system_info(), notes=exp.notes,
                  arms={**record.get("arms", {}), **{a.name: {"label": a.label or a.name, **arm_settings(a)}
                                                   for a in arms}})
    record.setdefault("runs", {})
    if taken and not args.dry_run:
        write_json(out / RESULTS_FILE, record)
    failed, estimates = [], []
    for arm in arms:
        for seed in arm.seeds or seeds:
            key, budget = f"{arm.name}/s{seed}", arm_budget(exp, arm, args)
            old = record["runs"].get(key)
            if run_done(old, budget) and (not args.redo_post_eval or old.get("kept")):
                print(f"[{key}] finished earlier; skipped" + (" (a kept record: its checkpoint is not here to "
                      "evaluate again)" if args.redo_post_eval else ""), flush=True)
                continue
            if args.dry_run:
                shared = taken_run(exp, arm, seed, args, out)
                state = f"to take from {shared['reused_from']}" if shared else "to continue" if old else "to run"
                # a finished run given a longer budget continues from where it ended
                done = old.get("budget", 0.0) if old and old.get("status") == "done" else 0.0
                wall = arm_wall(record, arm.name, record["system"], budget - done)
                estimates.append(wall)
                print(f"[{key}] {state} ({budget:g} {exp.unit}" + (f", about {wall / 60:.0f} min" if wall else "") +
                      ")", flush=True)
                continue
            try:
                rec = run_one(exp, arm, seed, args, out, record, key)
            except Stopped as e:
                print(f"[{key}] {e}; rerun the same command to continue", flush=True)
                return 130
            failed += [key] if rec.get("status") == "failed" else []
    if args.dry_run:
        print(left_line(estimates), flush=True)
        return 0
    ttq_results = out / "ttq" / "results.json"
    if ttq_results.is_file():  # the real-data floor the ttq points were measured against
        record["floor"] = json.loads(ttq_results.read_text())["floor"]
        write_json(out / RESULTS_FILE, record)
    if failed:
        print(f"failed: {', '.join(failed)} (see 'error' in {out / RESULTS_FILE})", flush=True)
    return 1 if failed else 0


def taken_run(exp: Experiment, arm: Arm, seed: int, args: argparse.Namespace, out: Path) -> dict | None:
    """The identical finished run of another experiment this (arm, seed) takes instead of training (Arm.same_as)."""
    return shared_run(arm.same_as, seed, ttq_argv(exp, arm, seed, args, out), out) if arm.same_as else None


def run_one(exp: Experiment, arm: Arm, seed: int, args: argparse.Namespace, out: Path, record: dict,
            key: str) -> dict:
    """Train, post-evaluate and record one (arm, seed); wall time adds up over the sessions that worked on it, a
    killed one included (its WallClock file)."""
    old = dict(record["runs"].get(key, {}))
    clock = out / "wallclock" / f"{arm.name}-s{seed}.json"
    killed = left_by_killed_session(clock)
    if killed is not None:
        old.update(wall_s=old.get("wall_s", 0.0) + killed, sessions=old.get("sessions", 0) + 1)
    elif old.get("status") == "running":  # a session killed before wall clocks were kept: its time is unknown
        old.update(sessions=old.get("sessions", 0) + 1, wall_s_incomplete=True)
    shared = taken_run(exp, arm, seed, args, out)
    if shared:  # its wall time and sessions carry over; this experiment adds its post-evaluation
        old = {k: shared.pop(k) for k in ("wall_s", "sessions", "wall_s_incomplete") if k in shared}
    rec = {**old, "arm": arm.name, "seed": seed, "status": "running", "system": system_info(),
           "command": script_command(exp.name, ["--out", relative(args.out), "--arms", arm.name, "--seeds", str(seed)])}
    record["runs"][key] = rec
    write_json(out / RESULTS_FILE, record)
    watch = WallClock(clock).start()
    print(f"[{key}] start" + (f": {shared['reused_from']} finished, its post-evaluation here" if shared else ""),
          flush=True)
    try:
        runner = run_cli_arm if arm.compress is not None or arm.train is not None else run_ttq_arm
        # --redo-post-eval reaches here with a finished run: keep its training, evaluate it again
        trained = run_done(old, arm_budget(exp, arm, args)) and {"status": old["status"]}
        rec.update(trained or shared or runner(exp, arm, seed, args, out), post_eval_done=False)
        if exp.post_eval is not None:
            rec["final"].update(exp.post_eval(exp, rec, args, out))
        rec["post_eval_done"] = True
    except Stopped:
        rec["status"] = "stopped"
        raise
    except (RuntimeError, ValueError, OSError, SystemExit) as e:
        rec.update(status="failed", error=str(e).replace(str(ROOT) + "/", ""))
        print(f"[{key}] failed: {e}", flush=True)
    finally:
        if rec["status"] == "running":  # any other exception (e.g. Ctrl-C): on disk, "running" means killed
            rec["status"] = "stopped"
        rec["wall_s"] = old.get("wall_s", 0.0) + watch.stop()
        rec["sessions"] = old.get("sessions", 0) + 1
        write_json(out / RESULTS_FILE, record)
    if rec["status"] != "failed":
        shown = ", ".join(f"{k} {v:.4g}" for k, v in rec["final"].items() if isinstance(v, (int, float)))
        print(f"[{key}] {rec['status']} in {rec['wall_s']:.0f} s: {shown}", flush=True)
    return rec


def main(make: Callable[[argparse.Namespace], Experiment], name: str, doc: str, argv: list[str] | None = None,
         add_args: Callable[[argparse.ArgumentParser], None] | None = None) -> int:
    """Entry point of every experiment script: parse, build the experiment, run it. A refusal (bad input, a folder
    of another experiment or of other settings) is one line on stderr and exit code 2."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(name, argv, add_args, doc)
    try:
        return run_experiment(make(args), args, argv)
    except SystemExit as e:
        if not isinstance(e.code, str):
            raise
        print(e.code, file=sys.stderr)
        return 2


__all__ = ["ROOT", "Arm", "Check", "Experiment", "PaperRow", "load_record", "load_ttq", "main", "relative",
           "run_experiment", "write_json"]
