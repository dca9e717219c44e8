"""Time-to-quality: train GAN configurations and evaluate each at fixed minutes of *training* time.

Only `Trainer.train_step` calls are timed; evaluation, checkpoints and sample grids are not counted. Quality
(G_ema, classifier-mnist features): 1-channel data fid/kid/pr@classifier-mnist and confident; 3-channel data
(Stacked MNIST) modes (of 1000, reverse KL), confident (per channel) and fid@classifier-mnist. Real-data floor:
the same numbers for half A of the real images (fixed split) against half B; generated samples, as many as half
A, are measured against the same half B. The table gives each value and FID / floor.

Usage:
    python benchmarks/time_to_quality.py --data mnist5k --minutes 30 --eval-every 5 --out results/ttq-mnist \\
        --config base="preset=tiny" --config lazy="preset=tiny loss.r_every=8" [--num 2500] [--threads 2]

Each --config NAME="k=v ..." is a preset (preset=..., default tiny) plus ganforge key=value overrides; the
configurations run one after the other. Rerunning the same command continues where it stopped (a larger
--minutes extends every configuration; evaluations already done are kept). `--kimg N` instead of `--minutes`
gives every configuration the same number of training images (points and --eval-every in kimg, grids
grid-<kimg>kimg.png), for comparisons at equal images seen. Written in --out: results.json and
table.md (also printed; both updated at every point), quality.png (one panel per metric, one curve per config,
dashed: real floor; redrawn after each configuration) and runs/NAME/ (a ganforge run dir with checkpoints, log.jsonl,
ttq_state.json and grid-<minutes>min.png per point).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

from ganforge.utils import perf

sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling ttq_report, also when loaded by file path
from ttq_report import markdown_table, plot_quality, table_keys

SPLIT_SEED = 0  # the real-data halves never depend on --seed, so floors agree across runs
STATE_FILE = "ttq_state.json"
GREY_METRICS = "fid@classifier-mnist,kid@classifier-mnist,pr@classifier-mnist,confident"
STACKED_METRICS = "modes,confident,fid@classifier-mnist"
MAX_HALF = 10_000


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--data", default="mnist5k", help="ganforge dataset spec (mnist5k, stacked-mnist, digits, ...)")
    budget = p.add_mutually_exclusive_group(required=True)
    budget.add_argument("--minutes", type=float, help="training minutes per configuration")
    budget.add_argument("--kimg", type=float, help="thousands of training images per configuration instead (equal "
                                                   "images seen; evaluation points are then in kimg too)")
    p.add_argument("--eval-every", type=float, required=True, help="evaluate every this many training minutes "
                                                                   "(kimg with --kimg)")
    p.add_argument("--out", required=True, help="output folder (rerun with the same one to resume)")
    p.add_argument("--config", action="append", required=True, metavar='NAME="k=v ..."',
                   help="a configuration: preset=NAME and key=value overrides (repeat for several)")
    p.add_argument("--num", type=int, default=None,
                   help=f"images per real half and generated samples (default: half the data, at most {MAX_HALF})")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    p.add_argument("--seed", type=int, default=0, help="training seed (cfg.seed; a config may override it)")
    p.add_argument("--eval-batch", type=int, default=250, help="batch size of the evaluation passes")
    args = p.parse_args(argv)
    args.unit, args.budget = ("minutes", args.minutes) if args.minutes is not None else ("kimg", args.kimg)
    if args.budget <= 0 or args.eval_every <= 0:
        p.error(f"--{args.unit} and --eval-every must be positive")
    return args


def parse_configs(items: list[str]) -> dict[str, list[str]]:
    """['base=preset=tiny a=1', ...] -> {"base": ["preset=tiny", "a=1"]}."""
    configs: dict[str, list[str]] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise SystemExit(f"--config {item!r}: expected NAME=\"key=value ...\" (NAME: letters, digits, -, _ or .)")
        if name in configs:
            raise SystemExit(f"--config {name} is given twice")
        configs[name] = shlex.split(text)
    return configs


def build_config(name: str, items: list[str], args: argparse.Namespace) -> Any:
    """A TrainConfig: the preset named by preset=, --data/--seed, the run dir, then the other overrides."""
    from ganforge.training import get_preset
    from ganforge.training.overrides import apply_overrides

    preset, rest = "tiny", []
    for item in items:
        key, _, value = item.partition("=")
        if key.strip() == "preset":
            preset = value.strip()
        elif key.strip() in ("data", "out"):
            raise SystemExit(f"--config {name}: '{key.strip()}' is set by --data / --out for every configuration")
        else:
            rest.append(item)
    cfg = get_preset(preset)
    cfg.data, cfg.seed, cfg.out = args.data, args.seed, str(Path(args.out) / "runs" / name)
    return apply_overrides(cfg, rest)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_json(path: Path, data: dict) -> None:
    """Atomic: a crash never leaves a half-written state file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)


def real_halves(data: Any, num: int | None) -> tuple[torch.Tensor, SimpleNamespace]:
    """(half A as uint8 images, half B as a reference set with a stable cache identity), split with SPLIT_SEED."""
    images = data.images
    half = num or min(len(images) // 2, MAX_HALF)
    if half < 2 or 2 * half > len(images):
        raise SystemExit(f"--num {half}: '{data.name}' has {len(images)} images, so 2..{len(images) // 2} per half")
    perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(SPLIT_SEED))
    ref = SimpleNamespace(images=images[perm[half:2 * half]],
                          identity=f"ttq-{data.identity}-B{half}-s{SPLIT_SEED}")
    return images[perm[:half]], ref


def compute_floor(data_spec: str, half_a: torch.Tensor, ref: SimpleNamespace, metrics: str, opts: Any) -> dict:
    from ganforge.metrics import evaluate_images

    t0 = time.perf_counter()
    values = evaluate_images(ref, half_a, metrics, opts)
    return {"data": data_spec, "num": len(half_a), "split_seed": SPLIT_SEED, "metrics_spec": metrics,
            "metrics": values, "eval_s": time.perf_counter() - t0}


def point_of(rec: dict) -> float:
    """An evaluation's point in its run's unit (records written before kimg budgets existed hold minutes)."""
    return rec.get("point", rec["minutes"])


def last_point(state: dict) -> float:
    done = [point_of(e) for e in state["evals"]] + ([point_of(state["pending"])] if state["pending"] else [])
    return max(done, default=0.0)


def schedule(budget: float, every: float) -> list[float]:
    """Evaluation points in the budget's unit (training minutes or kimg): every `every`, and at the end."""
    n = math.floor(budget / every + 1e-9)
    points = [round(every * k, 9) for k in range(1, n + 1)]
    return points if points and abs(points[-1] - budget) < 1e-9 else [*points, round(budget, 9)]


def train_until(trainer: Any, state: dict, seconds: float, nimg: float | None = None) -> dict:
    """Step until `seconds` of training time have passed, or with `nimg` until that many images have been seen
    (at least one step); only the steps are timed. Losses go to the run's log.jsonl every log_every_kimg, as in
    `ganforge train`, with s/kimg of training time since the previous record."""
    from ganforge.training.loop import Cadence

    elapsed, cpu = state["elapsed_s"], state.get("cpu_s", 0.0)
    log = Cadence(trainer.cfg.log_every_kimg * 1000, 0)
    log.realign(trainer.cur_nimg)  # records at whole multiples of log_every_kimg, across points and resumes
    logged_s, logged_nimg = elapsed, trainer.cur_nimg
    while True:
        t0, c0 = time.perf_counter(), time.process_time()
        terms = trainer.train_step()
        if terms["nonfinite"] is not None:
            trainer.handle_nonfinite(terms["nonfinite"])  # skip, or roll back to the last checkpoint
        elapsed += time.perf_counter() - t0
        cpu += time.process_time() - c0
        if terms["nonfinite"] is None and log.due(trainer.cur_nimg):
            sec_per_kimg = (elapsed - logged_s) / max((trainer.cur_nimg - logged_nimg) / 1000, 1e-9)
            trainer.logger.log(trainer.log_record("", sec_per_kimg, terms))
            log.realign(trainer.cur_nimg)
            logged_s, logged_nimg = elapsed, trainer.cur_nimg
        if (trainer.cur_nimg >= nimg) if nimg is not None else (elapsed >= seconds):
            break
    state["elapsed_s"], state["cpu_s"] = elapsed, cpu
    return terms


def checkpoint_point(trainer: Any, state: dict, point: float, terms: dict, state_path: Path) -> None:
    """Checkpoint and grids at an evaluation point; the state marks the point pending until it is evaluated."""
    ckpt, grid = trainer.save_checkpoint(), trainer.save_grid()
    by_kimg = state.get("unit") == "kimg"
    grid_name = f"grid-{point:g}{'kimg' if by_kimg else 'min'}.png"
    shutil.copyfile(grid, trainer.run_dir / grid_name)
    kimg, elapsed = trainer.cur_nimg / 1000, state["elapsed_s"]
    prev = state["evals"][-1] if state["evals"] else {"train_s": 0.0, "kimg": 0.0, "train_cpu_s": 0.0}
    wall = elapsed - prev["train_s"]
    state["pending"] = {
        "point": point, "minutes": round(elapsed / 60, 2) if by_kimg else point, "train_s": elapsed,
        "train_minutes": elapsed / 60, "kimg": kimg, "step": trainer.step,
        "s_per_kimg": wall / max(kimg - prev["kimg"], 1e-9),  # since the previous point
        "s_per_kimg_total": elapsed / max(kimg, 1e-9), "train_cpu_s": state["cpu_s"],
        # process CPU seconds per training second since the previous point: ~threads when the cores were ours
        "cpu_per_wall": (state["cpu_s"] - prev["train_cpu_s"]) / max(wall, 1e-9),
        "loss_D": terms.get("loss_D"), "loss_G": terms.get("loss_G"),
        "skipped_steps": trainer.guard.total_skipped, "rollbacks": trainer.guard.rollbacks,
        "checkpoint": ckpt.name, "grid": grid_name, "loadavg": list(os.getloadavg()), "time": now()}
    state.update(checkpoint=ckpt.name, nimg=trainer.cur_nimg, step=trainer.step)
    write_json(state_path, state)


def evaluate_pending(trainer: Any, state: dict, ref: SimpleNamespace, metrics: str, num: int, opts: Any,
                     state_path: Path) -> None:
    from ganforge.metrics import evaluate_generator

    rec = state["pending"]
    t0 = time.perf_counter()
    devices = [trainer.device] if trainer.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):  # building extractors draws numbers: keep the training stream intact
        rec["metrics"] = evaluate_generator(trainer.G_ema, ref, metrics, num=num, seed=0, device=trainer.device,
                                            options=opts)
    rec["eval_s"] = time.perf_counter() - t0
    state["evals"].append(rec)
    state["pending"] = None
    write_json(state_path, state)
    shown = ", ".join(f"{k} {v:.4g}" for k, v in rec["metrics"].items() if k in table_keys(metrics))
    print(f"[{state['name']}] {rec['minutes']:g} min, {rec['kimg']:.2f} kimg, {rec['s_per_kimg']:.1f} s/kimg: {shown}",
          flush=True)


def restore_exact(trainer: Any, state: dict) -> None:
    """Resume from the checkpoint of the last recorded point (a later one may exist if a run died mid-point)."""
    if (trainer.cur_nimg, trainer.step) == (state["nimg"], state["step"]):
        return
    path = trainer.run_dir / state["checkpoint"]
    if not (path / "state.json").is_file():
        raise SystemExit(f"{path} (the last recorded point of {state['name']}) is missing; delete {trainer.run_dir} "
                         "to restart that configuration")
    trainer.restore(path)


def run_config(name: str, items: list[str], args: argparse.Namespace, ref: SimpleNamespace, metrics: str, num: int,
               opts: Any, on_point: Any) -> dict:
    """Train one configuration to --minutes (from where its state stops), evaluating at every point."""
    from ganforge.training import Trainer
    from ganforge.training.config import to_dict
    from ganforge.training.guard import TrainingDiverged
    from ganforge.training.rundir import run_contents

    cfg = build_config(name, items, args)
    run_dir = Path(cfg.out)
    state_path = run_dir / STATE_FILE
    state = json.loads(state_path.read_text()) if state_path.is_file() else None
    if state is not None and (state["overrides"], state["data"], state["num"]) != (items, args.data, num):
        raise SystemExit(f"{run_dir} holds a run of {state['overrides']} on {state['data']} (num {state['num']}); "
                         "use another --out or configuration name for different settings")
    if state is not None and state.get("unit", "minutes") != args.unit:
        raise SystemExit(f"{run_dir} counts its points in {state.get('unit', 'minutes')}; continue it with "
                         f"--{state.get('unit', 'minutes')} or use another --out")
    if state is not None and state.get("diverged"):
        print(f"[{name}] diverged earlier ({state['diverged']}); not continued", flush=True)
        return state
    # a first start that died before its state (a lone .lock: killed while setting up, nothing to keep)
    if state is None and run_dir.is_dir() and run_contents(run_dir):
        if not ((run_dir / "config.json").is_file() or any(run_dir.glob("ckpt-*"))):
            raise SystemExit(f"{run_dir} holds files that are not a ganforge run; move them or use another --out")
        shutil.rmtree(run_dir)
    trainer = Trainer(cfg, resume=state is not None)
    try:
        if state is None:
            ckpt = trainer.save_checkpoint()  # a state to roll back to from the first step
            count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
            state = {"name": name, "overrides": items, "data": args.data, "num": num, "config": to_dict(cfg),
                     "params": {"G": count(trainer.G), "D": count(trainer.D)}, "unit": args.unit,
                     "elapsed_s": 0.0, "nimg": 0,
                     "step": 0, "cpu_s": 0.0, "checkpoint": ckpt.name, "evals": [], "pending": None, "started": now()}
            write_json(state_path, state)
        else:
            restore_exact(trainer, state)
        if state["pending"] is not None:  # the run stopped between a point's checkpoint and its evaluation
            evaluate_pending(trainer, state, ref, metrics, num, opts, state_path)
            on_point(name, state)
        for point in schedule(args.budget, args.eval_every):
            if point <= last_point(state) + 1e-9:
                continue
            terms = train_until(trainer, state, point * 60, point * 1000 if args.unit == "kimg" else None)
            checkpoint_point(trainer, state, point, terms, state_path)
            evaluate_pending(trainer, state, ref, metrics, num, opts, state_path)
            on_point(name, state)
    except TrainingDiverged as e:
        state["diverged"] = str(e)
        write_json(state_path, state)
        print(f"[{name}] {e}", flush=True)
    finally:
        trainer.logger.close()
        lock = getattr(trainer, "run_lock", None)
        if lock is not None:
            lock.release()
    return state


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    configs = parse_configs(args.config)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.json"
    old = json.loads(results_path.read_text()) if results_path.is_file() else {}
    if old and old.get("data") != args.data:
        raise SystemExit(f"{out} holds results on {old.get('data')}; use another --out for --data {args.data}")
    command = shlex.join([sys.executable, str(Path(__file__).resolve()), *argv])
    session = {"started": now(), "command": command, "loadavg_start": list(os.getloadavg()),
               "torch_threads": torch.get_num_threads(), args.unit: args.budget, "eval_every": args.eval_every}

    from ganforge.data import load_dataset
    from ganforge.metrics import EvalOptions

    data = load_dataset(args.data)
    half_a, ref = real_halves(data, args.num)
    metrics = GREY_METRICS if data.channels == 1 else STACKED_METRICS
    opts = EvalOptions(disk_cache=False, batch_size=args.eval_batch)
    floor = old.get("floor")
    if not floor or (floor["data"], floor["num"], floor["metrics_spec"]) != (args.data, len(half_a), metrics):
        floor = compute_floor(args.data, half_a, ref, metrics, opts)
    results = {"command": command, "data": args.data, "metrics_spec": metrics, "num": len(half_a),
               "system": {"cpu": perf.cpu_info(), "torch": torch.__version__, "torch_threads": torch.get_num_threads()},
               "sessions": [*old.get("sessions", []), session], "floor": floor, "configs": old.get("configs", {})}

    def on_point(name: str, state: dict, plot: bool = False) -> None:
        results["configs"][name] = state
        write_json(results_path, results)
        (out / "table.md").write_text(markdown_table(results))
        if plot:  # ~2 s of matplotlib: once per configuration, not per point
            plot_quality(results, out / "quality.png")

    write_json(results_path, results)
    for name, items in configs.items():
        on_point(name, run_config(name, items, args, ref, metrics, len(half_a), opts, on_point), plot=True)
    table = markdown_table(results)
    print(table)
    print(f"results: {results_path}, plot: {out / 'quality.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
