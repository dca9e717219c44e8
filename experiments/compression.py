"""Compression experiment (issue 6): a teacher on stacked-mnist, then students at C = 1/2, 1/4, 1/8 by naive
from-scratch training, kd, SDAKD and NICKEL & DiME at equal kimg; params, MACs, CPU latency speed-ups and the
evaluation suite's metrics in one table, plus a plot. Every step is a `ganforge` CLI call (run in-process), so
the recorded argv lists are the commands to reproduce it; finished steps are skipped when re-run.

    python experiments/compression.py --out runs/compression --docs docs
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

from ganforge.cli.main import main
from ganforge.compress.report import build_report
from ganforge.compress.student import student_config
from ganforge.metrics import evaluate_generator, generate_images
from ganforge.networks import Generator, NetworkConfig
from ganforge.training import get_preset
from ganforge.training.load import load_generator

METRICS = "fid@classifier-mnist,kid@classifier-mnist,modes"
TO_TEACHER = "fid_to_teacher@classifier-mnist"
TEACHER_REF_SEED = 999
METHODS = ("naive", "kd", "sdakd", "nickel-dime")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="runs/compression")
    p.add_argument("--docs", default="docs", help="where the table (JSON + markdown) and the plot go")
    p.add_argument("--data", default="stacked-mnist")
    p.add_argument("--data-size", type=int, default=10_000)
    p.add_argument("--width", type=int, default=32, help="teacher width per stage (4 stages, 1 block each)")
    p.add_argument("--teacher-kimg", type=float, default=12.0)
    p.add_argument("--student-kimg", type=float, default=2.0)
    p.add_argument("--fractions", default="0.5,0.25,0.125")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--eval-num", type=int, default=5000, help="generated images for the final metrics")
    p.add_argument("--select-num", type=int, default=1000, help="generated images for model selection")
    p.add_argument("--stats-num", type=int, default=5000, help="teacher samples for DiME's global features")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads for everything (shared machine)")
    return p.parse_args()


def teacher_net(width: int) -> NetworkConfig:
    return NetworkConfig(widths=[width] * 4, blocks=[1] * 4, cardinalities=[max(1, width * 2 // 16)] * 4)


def net_overrides(net: NetworkConfig) -> list[str]:
    compact = {"separators": (",", ":")}
    return [f"net.widths={json.dumps(net.widths, **compact)}", f"net.blocks={json.dumps(net.blocks, **compact)}",
            f"net.cardinalities={json.dumps(net.cardinalities, **compact)}"]


def run_cli(argv: list[str], log: list[dict], done: Path) -> float:
    """Run `ganforge ARGV` unless `done` exists; returns (and logs) the wall seconds."""
    if done.exists():
        print(f"skip (exists: {done}): ganforge {' '.join(argv)}", flush=True)
        return next((r["seconds"] for r in log if r["argv"] == argv), float("nan"))
    print(f"\n$ ganforge {' '.join(argv)}", flush=True)
    t0 = time.time()
    code = main(argv)
    if code:
        raise SystemExit(f"ganforge {argv[0]} failed with exit code {code}")
    seconds = time.time() - t0
    log.append({"argv": argv, "seconds": seconds})
    return seconds


def evaluate(path: Path, data, eval_num: int) -> dict[str, float]:
    return evaluate_generator(load_generator(path), data, METRICS, eval_num, seed=0)


def preset_costs(fractions: list[float]) -> list[dict]:
    """Params/MACs/latency of untrained generators at the R3GAN widths (stacked-mnist preset) and the small preset."""
    rows = []
    for preset, batch_sizes in (("small", (1, 32)), ("stacked-mnist", (1,))):  # 768 wide: ~7 GMACs per image
        net = get_preset(preset).net
        gens = {f"{preset} C=1": Generator(net)}
        for c in fractions:
            gens[f"{preset} C={c:g}"] = Generator(student_config(net, c))
        for r in build_report(gens, batch_sizes=batch_sizes, warmup=2, repeats=5):
            rows.append(r.to_dict())
    return rows


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    teacher = next(r for r in rows if r["method"] == "teacher")
    for method in METHODS:
        pts = sorted((r for r in rows if r["method"] == method), key=lambda r: r["macs"])
        if not pts:
            continue
        x = [r["macs"] / 1e6 for r in pts]
        axes[0].plot(x, [r["metrics"]["fid@classifier-mnist"] for r in pts], "o-", label=method)
        axes[1].plot(x, [r["metrics"][TO_TEACHER] for r in pts], "o-", label=method)
    for ax, key in ((axes[0], "fid@classifier-mnist"), (axes[1], TO_TEACHER)):
        ax.axhline(teacher["metrics"][key], color="k", ls="--", lw=1, label="teacher")
        ax.set_xscale("log")
        ticks = sorted({r["macs"] / 1e6 for r in rows if r["method"] != "teacher"})
        ax.set_xticks(ticks, [f"{t:.2f}" for t in ticks])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("generator MMACs / image")
        ax.legend(fontsize=8)
    axes[0].set_ylabel("FID (classifier-mnist features)")
    axes[1].set_ylabel("FID to the teacher's samples (classifier-mnist)")
    fracs = sorted({r["fraction"] for r in rows if r["method"] == "kd"}, reverse=True)
    sp = {f: next(r for r in rows if r["fraction"] == f and r["method"] == "kd")["speedup"] for f in fracs}
    axes[2].plot(fracs, [sp[f]["1"] for f in fracs], "o-", label="batch 1")
    axes[2].plot(fracs, [sp[f]["32"] for f in fracs], "o-", label="batch 32")
    axes[2].set_xscale("log", base=2)
    axes[2].set_xlabel("width fraction C")
    axes[2].set_ylabel("CPU speed-up over the teacher (1 thread)")
    axes[2].set_xticks(fracs, [f"1/{round(1 / f)}" for f in fracs])
    axes[2].legend(fontsize=8)
    fig.suptitle("Compressing a stacked-mnist R3GAN teacher: quality vs cost")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def markdown(rows: list[dict]) -> str:
    head = ("| method | C | widths | params | MACs/img | compr. | ms@1 | ms@32 | speed-up@1 | speed-up@32 | "
            "FID (clf) | FID to T | KID (clf) | modes | KL | train s |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        m = r["metrics"]
        lines.append(f"| {r['method']} | {r['fraction']:g} | {r['widths'][0]} | {r['params'] / 1e3:.1f}k | "
                     f"{r['macs'] / 1e6:.2f}M | {100 * r['compression_rate']:.1f}% | {r['latency_ms']['1']:.2f} | "
                     f"{r['latency_ms']['32']:.1f} | {r['speedup']['1']:.2f}x | {r['speedup']['32']:.2f}x | "
                     f"{m['fid@classifier-mnist']:.2f} | {m[TO_TEACHER]:.2f} | {m['kid@classifier-mnist']:.3f} | "
                     f"{int(m['modes'])} | "
                     f"{m['modes_kl']:.2f} | {r['train_seconds']:.0f} |")
    return "\n".join(lines)


def main_experiment() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    out, docs = Path(args.out), Path(args.docs)
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "commands.json"
    log: list[dict] = json.loads(log_path.read_text()) if log_path.exists() else []
    fractions = [float(f) for f in args.fractions.split(",")]
    methods = [m for m in args.methods.split(",") if m]
    data_args = ["--data", args.data]
    tnet = teacher_net(args.width)
    schedule = [f"data_size={args.data_size}", f"schedule.burnin_kimg={args.teacher_kimg}",
                "schedule.ema_halflife_kimg_end=0.5", "log_every_kimg=0.5", "grid_size=64"]
    t0 = time.time()

    teacher = out / "teacher"
    secs = {"teacher": run_cli(["train", "--preset", "tiny", *data_args, "--out", str(teacher), "--kimg",
                                str(args.teacher_kimg), "--seed", "0", *schedule, *net_overrides(tnet),
                                f"snapshot_every_kimg={args.teacher_kimg}"], log, teacher / "generator.safetensors")}
    log_path.write_text(json.dumps(log, indent=1))
    stats = out / "teacher_stats_alexnet64.safetensors"
    run_cli(["distill", "teacher-stats", str(teacher), "--embed", "alexnet", "--embed-size", "64", "--num",
             str(args.stats_num), "--batch-size", "250", "--out", str(stats)], log, stats)
    log_path.write_text(json.dumps(log, indent=1))

    select = ["--eval-metric", "fid@classifier-mnist", f"eval_num={args.select_num}", "sup.lpips_net=alexnet"]
    runs = {}
    for c in fractions:
        for method in methods:
            run = out / f"{method}-c{c:g}"
            if method == "naive":
                argv = ["train", "--preset", "tiny", *data_args, "--out", str(run), "--kimg", str(args.student_kimg),
                        "--seed", "0", *schedule, *net_overrides(student_config(tnet, c)),
                        f"snapshot_every_kimg={args.student_kimg}"]
            else:
                argv = ["compress", "--teacher", str(teacher), "--method", method, "--fraction", f"{c:g}", "--out",
                        str(run), "--kimg", str(args.student_kimg), "--overwrite", *select]  # redo an unfinished run
                if method == "nickel-dime":
                    argv += ['nickel.embeddings=["alexnet:20"]', "nickel.embed_size=64",
                             f"nickel.teacher_stats={stats}", f"nickel.stats_num={args.stats_num}"]
            secs[run.name] = run_cli(argv, log, run / "generator.safetensors")
            log_path.write_text(json.dumps(log, indent=1))
            runs[run.name] = (method, c, run)

    from ganforge.data import load_dataset

    data = load_dataset(args.data, size=args.data_size, seed=0)
    gens = {"teacher": teacher / "generator.safetensors",
            **{name: run / "generator.safetensors" for name, (_, _, run) in runs.items()}}
    metrics_path = out / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    teacher_images = generate_images(load_generator(gens["teacher"]), args.eval_num, seed=TEACHER_REF_SEED)
    for name, path in gens.items():
        if name not in metrics:
            print(f"evaluating {name}", flush=True)
            metrics[name] = evaluate(path, data, args.eval_num)
        if TO_TEACHER not in metrics[name]:  # distance to the teacher's own distribution (other latents)
            metrics[name][TO_TEACHER] = evaluate_generator(load_generator(path), teacher_images,
                                                           "fid@classifier-mnist", args.eval_num,
                                                           seed=0)["fid@classifier-mnist"]
        metrics_path.write_text(json.dumps(metrics, indent=1))
    report = build_report({n: load_generator(p) for n, p in gens.items()}, "teacher", (1, 32), warmup=5,
                          repeats=10, threads=args.threads, rounds=3)
    rows = []
    for r in report:
        method, c, _ = runs.get(r.name, ("teacher", 1.0, teacher))
        rows.append({**r.to_dict(), "method": method, "fraction": c, "metrics": metrics[r.name],
                     "train_seconds": secs.get(r.name, float("nan"))})
    result = {"settings": vars(args), "teacher_net": dataclasses.asdict(tnet), "rows": rows,
              "preset_costs": preset_costs(fractions), "commands": log,
              "threads": args.threads, "total_seconds": time.time() - t0}
    docs.mkdir(parents=True, exist_ok=True)
    (docs / "compression_results.json").write_text(json.dumps(result, indent=1) + "\n")
    (docs / "compression_results.md").write_text(markdown(rows) + "\n")
    plot(rows, docs / "compression_results.png")
    print(markdown(rows))
    print(f"total {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main_experiment()
