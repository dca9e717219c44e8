"""SD-GAN evidence on CPU: baseline vs SD-LPIPS vs SD-L1 at equal kimg, tiny preset, two datasets.

Per dataset and variant: train (all checkpoints kept for the trajectory analysis), evaluate the EMA generator
(Stacked-MNIST modes / reverse KL via classifier-mnist, FID in classifier-mnist features, FD in VGG16 features at
the native 32x32, optionally rFID), the trajectory variation (SD-GAN Table 3) and, for SD-LPIPS, the interplay grid
(Fig. 6). Writes results.json, results.md and plots to --docs. Finished runs are reused (rerun to resume). Usage:
    python experiments/self_distill.py --out runs/sd_exp --docs runs/sd_exp/report --kimg 4
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch

VARIANTS = {"baseline": None, "sd-lpips": "lpips-vgg", "sd-l1": "l1"}
COLORS = {"baseline": "grey", "sd-lpips": "tab:blue", "sd-l1": "tab:orange"}
DATA_METRICS = {"stacked-mnist": ["modes", "fid@classifier-mnist", "fid@vgg16"],
                "fashion-mnist": ["fid@classifier-mnist", "fid@vgg16"],
                "mnist5k": ["modes", "fid@classifier-mnist", "fid@vgg16"]}


def train(dataset: str, variant: str, run: Path, args: argparse.Namespace) -> float:
    """Train one run unless it is complete already; returns the training CPU seconds of this process (0 if reused)."""
    from ganforge.training import Trainer, checkpoint, get_preset

    found = checkpoint.list_checkpoints(run)
    if found and checkpoint.read_state(found[-1])["cur_nimg"] >= args.kimg * 1000:
        return 0.0
    cfg = get_preset("tiny")
    cfg.data, cfg.out, cfg.kimg, cfg.seed, cfg.device = dataset, str(run), args.kimg, args.seed, "cpu"
    cfg.keep_checkpoints, cfg.snapshot_every_kimg, cfg.log_every_kimg = 0, args.snapshot_kimg, 0.25
    if VARIANTS[variant]:
        cfg.self_distill, cfg.sd.distance, cfg.sd.alpha = True, VARIANTS[variant], args.alpha
    start = time.process_time()
    Trainer(cfg, resume=bool(found), overwrite=not found).train()  # a start that died early is replaced
    return time.process_time() - start


def evaluate(dataset: str, run: Path, args: argparse.Namespace) -> dict:
    from ganforge.data import load_dataset
    from ganforge.metrics import EvalOptions, evaluate_generator
    from ganforge.training.load import load_generator

    G = load_generator(run)
    real = load_dataset(dataset)
    opts = EvalOptions(size=32, num_real=args.num, batch_size=128, rfid_seeds=args.rfid_seeds)
    out = evaluate_generator(G, real, DATA_METRICS[dataset], num=args.num, seed=1, options=opts)
    if args.rfid_num:
        opts.num_real = args.rfid_num
        out.update(evaluate_generator(G, real, ["rfid"], num=args.rfid_num, seed=1, options=opts))
    return out


def train_log(run: Path) -> dict:
    recs = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    recs = [r for r in recs if "loss_G" in r]
    tail = recs[-max(1, len(recs) // 5):]  # the last 20% of the run
    out = {"sec_per_kimg": sum(r["sec_per_kimg"] for r in recs) / len(recs),
           "curve_kimg": [r["kimg"] for r in recs]}
    if "L_SD" in recs[-1]:
        out["L_SD_last20"] = sum(r["L_SD"] for r in tail) / len(tail)
        out["curve_L_SD"] = [r["L_SD"] for r in recs]
    return out


def plots(results: dict, docs: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(results)
    fig, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 3.6), squeeze=False)
    for ax, ds in zip(axes[0], datasets):
        for variant, r in results[ds].items():
            t = r["trajectory"]
            ax.plot(t["kimg"][1:], t["pair_means"], marker="o", color=COLORS.get(variant),
                    label=f"{variant} ({t['mean']:.4f} ± {t['std']:.4f})")
        ax.set(title=f"{ds}: LPIPS(G_k(z), G_k+1(z))", xlabel="kimg of the later checkpoint",
               ylabel=f"mean over {results[ds][variant]['trajectory']['num']} latents")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(docs / "trajectory.png", dpi=110)
    plt.close(fig)

    keys = sorted({k for ds in datasets for r in results[ds].values() for k in r["metrics"]
                   if not k.endswith("_total") and "std" not in k})
    fig, axes = plt.subplots(len(datasets), len(keys), figsize=(3 * len(keys), 2.8 * len(datasets)), squeeze=False)
    for row, ds in zip(axes, datasets):
        for ax, key in zip(row, keys):
            names = [v for v in results[ds] if key in results[ds][v]["metrics"]]
            if not names:
                ax.axis("off")
                continue
            ax.bar(names, [results[ds][v]["metrics"][key] for v in names], color=[COLORS.get(v) for v in names])
            ax.set_title(f"{ds}: {key}", fontsize=9)
            ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    fig.savefig(docs / "metrics.png", dpi=110)
    plt.close(fig)


def table(results: dict, args: argparse.Namespace) -> str:
    lines = []
    for ds, runs in results.items():
        keys = [k for k in next(iter(runs.values()))["metrics"] if not k.endswith("_total")]
        lines += [f"### {ds} ({args.kimg:g} kimg, tiny preset, metrics on {args.num} samples)", "",
                  "| variant | " + " | ".join(keys) + " | trajectory LPIPS (mean ± std) | wall s/kimg* "
                  "| L_SD, last 20% |",
                  "|---|" + "---|" * (len(keys) + 3)]
        for variant, r in runs.items():
            vals = " | ".join(f"{r['metrics'][k]:.4g}" for k in keys)
            sd = r["log"].get("L_SD_last20")
            lines.append(f"| {variant} | {vals} | {r['trajectory']['mean']:.4f} ± {r['trajectory']['std']:.4f} | "
                         f"{r['log']['sec_per_kimg']:.0f} | {'-' if sd is None else f'{sd:.4f}'} |")
        lines.append("")
    lines.append("*wall-clock time of the training run on a shared machine whose load changed between runs: not an "
                 "overhead measurement (see benchmarks/self_distill.py).")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="runs/sd_exp", help="run directories")
    ap.add_argument("--docs", default="runs/sd_exp/report", help="results.json, results.md, plots")
    ap.add_argument("--datasets", default="stacked-mnist,fashion-mnist")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--kimg", type=float, default=4.0)
    ap.add_argument("--snapshot-kimg", type=float, default=0.5, dest="snapshot_kimg")
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--num", type=int, default=2000, help="generated (and real) samples per metric")
    ap.add_argument("--rfid-num", type=int, default=0, dest="rfid_num", help="0: no rFID (Inception at 299 px)")
    ap.add_argument("--rfid-seeds", type=int, default=1, dest="rfid_seeds")
    ap.add_argument("--traj-num", type=int, default=480, dest="traj_num")
    ap.add_argument("--interplay-num", type=int, default=1000, dest="interplay_num")
    ap.add_argument("--threads", type=int, default=1, help="1 is faster than 2 on a loaded 2-core machine")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from ganforge.distill.interplay import interplay, save_interplay_grid
    from ganforge.distill.trajectory import trajectory_variation

    out, docs = Path(args.out), Path(args.docs)
    docs.mkdir(parents=True, exist_ok=True)
    results_path = docs / "results.json"
    results: dict = json.loads(results_path.read_text()).get("results", {}) if results_path.exists() else {}
    t0 = time.process_time()
    for ds in args.datasets.split(","):
        for variant in args.variants.split(","):
            run = out / ds / variant
            done = results.get(ds, {}).get(variant)
            if done and done.get("kimg") == args.kimg and (bool(args.rfid_num) <= ("rfid" in done["metrics"])):
                continue
            cpu_train = train(ds, variant, run, args)
            start = time.process_time()
            r = {"kimg": args.kimg, "metrics": evaluate(ds, run, args), "log": train_log(run),
                 "trajectory": trajectory_variation(run, num=args.traj_num).to_dict(),
                 "cpu_sec_train": cpu_train}
            if variant == "sd-lpips":
                ip = interplay(run, num=args.interplay_num)
                save_interplay_grid(ip, docs / f"interplay-{ds}.png")
                r["interplay"] = {k: v for k, v in ip.summary().items() if k != "quadrants"}
            shutil.copy(sorted((run / "samples").glob("grid-*.png"))[-1], docs / f"samples-{ds}-{variant}.png")
            r["cpu_sec_eval"] = time.process_time() - start
            results.setdefault(ds, {})[variant] = r
            results_path.write_text(json.dumps({"args": vars(args), "results": results}, indent=1))
            print(f"{ds} {variant}: {r['metrics']} trajectory {r['trajectory']['mean']:.4f} "
                  f"± {r['trajectory']['std']:.4f}", flush=True)
    (docs / "results.md").write_text(table(results, args))
    plots(results, docs)
    print(table(results, args))
    print(f"CPU time of this invocation: {(time.process_time() - t0) / 60:.1f} min")


if __name__ == "__main__":
    main()
