"""Runs one experiment takes from another instead of training them again. An arm marked `same_as="<experiment>/<arm>"`
(pretrained_d's augmentation-alone arms are data_efficient's ADA arms) takes that experiment's finished run of the
same seed, when its results folder sits beside this one and the run was trained with exactly the same
time-to-quality arguments; the taking experiment still runs its own post-evaluation on it."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

RESULTS_FILE = "experiment.json"  # every experiment's record in its results folder


def training_args(argv: list[str]) -> list[str]:
    """The time_to_quality.py arguments that decide what a run trains: its output folder, configuration name and
    thread count left out."""
    kept, skip = [], False
    for i, a in enumerate(argv):
        if skip:
            skip = False
        elif a in ("--out", "--threads"):
            skip = True
        elif i and argv[i - 1] == "--config":
            kept[-1:] = ["--config", a.split("=", 1)[1]]
        else:
            kept.append(a)
    return kept


def shared_run(same_as: str, seed: int, argv: list[str], out: Path) -> dict | None:
    """The record of `same_as`'s finished run of `seed`, from the experiment folder beside `out`, with its files'
    paths made relative to `out` and only its training metrics in `final`; None when there is no such run, its
    checkpoint is not here, or it was trained with other arguments than `argv` (this arm's time_to_quality.py
    arguments)."""
    name, arm = same_as.split("/", 1)
    path = Path(out).parent / name / RESULTS_FILE
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    run = record.get("runs", {}).get(f"{arm}/s{seed}")
    if record.get("experiment") != name or not run or run.get("status") != "done" or not run.get("post_eval_done"):
        return None
    if "ttq_command" not in run or training_args(shlex.split(run["ttq_command"])[2:]) != training_args(argv):
        return None
    if run.get("kept") or (run.get("checkpoint") and not (path.parent / run["checkpoint"]).exists()):
        return None  # its files are not here (a run the results page kept): post-evaluation needs the checkpoint
    there = Path("..") / name
    skip = ("arm", "seed", "command", "post_eval_done")
    return {**{k: v for k, v in run.items() if k not in skip}, "reused_from": f"{name}/{arm}/s{seed}",
            "final": dict(run["curve"][-1]["metrics"]) if run.get("curve") else {},
            **{k: str(there / run[k]) for k in ("grid", "checkpoint") if run.get(k)}}
