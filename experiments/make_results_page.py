"""Write docs/results.md from the experiments' JSON files: per claim the paper's numbers beside ours, the verdicts,
commands and wall times, every arm's sample grids and the curves (copied / drawn into docs/results/<claim>/).

    python experiments/make_results_page.py [--results results/experiments] [--page docs/results.md]

Each claim's record is kept beside its assets (docs/results/<claim>/experiment.json, paths made relative), so the
page regenerates from the repository alone when the run folders are gone. A claim with neither record, or with no
finished run, appears as "not run yet" with the command that runs it. The page holds no absolute paths and no dates.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import re
import shutil
import sys
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parent))

from aggregate import NOISE_RULE, Stat, mean_std, summarize, verdict
from common import RESULTS_FILE, ROOT, Check

CLAIMS = ("r3gan_ablation", "sd_gan", "data_efficient", "pretrained_d", "compression", "sr")
HOW = f"""## How the results are made

Each claim has one script in `experiments/`; it runs every (arm, seed) one after the other, never in parallel,
and resumes: rerunning the same command skips finished runs and continues an interrupted one. The page keeps each
claim's record in the repository (`docs/results/<claim>/experiment.json`), and a script whose results folder is
gone (another machine) takes from it every finished run made with the same settings instead of training it again;
each run lists the CPU it ran on. Training arms run
through `benchmarks/time_to_quality.py` (evaluation points, the real-data floor, a sample grid per point); where
the claim compares arms at equal images seen, the points count kimg instead of training minutes. Compression
students are `ganforge compress` runs; super-resolution arms are plain `ganforge train` / `ganforge compress` runs,
scored by PSNR and SSIM (Y channel) and LPIPS on fixed held-out pairs. Metrics use the MNIST classifier that
ships with ganforge (`fid@classifier-mnist`, Stacked-MNIST modes and reverse KL, the confident-digit rate),
measured against a fixed real half of the data; the other half, measured the same way, gives the real-data floor.
Defaults: seeds 0, 1 and 2; every number below is the mean ± sample standard deviation over the seeds that finished.

**Within noise:** {NOISE_RULE}. A claim's verdict is *holds* when the arm the paper says is better is better by
that rule, *fails* when the other arm is, and *within noise at this scale* otherwise.

The paper's numbers come from much larger models and other data (FFHQ, LSUN, CelebA-HQ, full-size
Stacked-MNIST networks); set beside ours they say which way an effect goes, not what value to expect.

Run every claim in turn (each resumes; the page is regenerated at the end): `python experiments/run_all.py
--threads 2`. Regenerate this page after any run: `python experiments/make_results_page.py`.
"""


def load_claim(name: str) -> ModuleType:
    """The claim script as a module (its NAME, TITLE, CLAIM, COMMAND, PAPER, CHECKS, SHOWN, CURVES)."""
    return importlib.import_module(name)


def finals(record: dict) -> tuple[dict[str, list[dict]], dict[str, int]]:
    """({arm: final metrics of its finished seeds}, {arm: diverged seeds}) in the record's arm order."""
    done: dict[str, list[dict]] = {arm: [] for arm in record.get("arms", {})}
    diverged: dict[str, int] = {arm: 0 for arm in done}
    for rec in record.get("runs", {}).values():
        if rec.get("status") == "done" and rec.get("post_eval_done"):
            done.setdefault(rec["arm"], []).append(rec["final"])
        elif rec.get("status") == "diverged":
            diverged[rec["arm"]] = diverged.get(rec["arm"], 0) + 1
    return done, diverged


def curve_table(record: dict, key: str) -> list[str]:
    """`key` at every evaluation point (kimg) of the finished runs, mean ± std over seeds per arm: how fast each arm
    gets there, which the final values alone do not show; nothing before any run has the key."""
    points: dict[str, dict[int, list[float]]] = {}
    for rec in record.get("runs", {}).values():
        if rec.get("status") == "done" and rec.get("post_eval_done"):
            for e in rec.get("curve", []):
                if key in e.get("metrics", {}):
                    points.setdefault(rec["arm"], {}).setdefault(round(e["kimg"]), []).append(e["metrics"][key])
    kimgs = sorted({k for by_kimg in points.values() for k in by_kimg})
    if not kimgs:
        return []
    labels = {arm: info.get("label", arm) for arm, info in record.get("arms", {}).items()}
    order = [*(a for a in labels if a in points), *(a for a in points if a not in labels)]  # the arms table's order
    rows = [[labels.get(arm, arm), *(point_text(mean_std(points[arm][k])) if k in points[arm] else "" for k in kimgs)]
            for arm in order]
    return ["", f"**`{key}` over training** (mean ± std over finished seeds, by kimg seen):", "",
            *table(["arm", *(f"{k} kimg" for k in kimgs)], rows)]


def point_text(stat: Stat) -> str:
    """Counts such as modes as whole numbers ('808 ± 14', not '808 ± 1.4e+01'); small values as Stat.text(3)."""
    if abs(stat.mean) < 10:
        return stat.text(3)
    return f"{stat.mean:.0f}" if stat.n < 2 else f"{stat.mean:.0f} ± {stat.std:.0f}"


def ours_key(metric: str, stats: dict[str, Stat]) -> str | None:
    """Our result key for a paper metric name: itself, or the first key of that metric with an @extractor."""
    if metric in stats:
        return metric
    return next((k for k in stats if k.startswith(metric + "@")), None)


def check_verdict(check: Check, summary: dict[str, dict[str, Stat]], diverged: dict[str, int],
                  done: dict[str, list[dict]]) -> str:
    """The rule of aggregate.verdict; an arm that diverged in every seed while the other did not loses."""
    if diverged.get(check.worse) and not done.get(check.worse) and done.get(check.better):
        return "holds (the other arm diverged in every seed)"
    if diverged.get(check.better) and not done.get(check.better) and done.get(check.worse):
        return "fails (this arm diverged in every seed)"
    better, worse = summary.get(check.better, {}), summary.get(check.worse, {})
    key = ours_key(check.metric, better) or check.metric  # "fid_crops" is "fid_crops@<extractor>" in the record
    return verdict(key, better.get(key), worse.get(key))


def table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *("| " + " | ".join(r) + " |" for r in rows), ""]


def fmt(value: object) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def plot_curves(record: dict, keys: list[str], path: Path, axis: str = "kimg") -> bool:
    """Mean over seeds of each arm's evaluation points, metric vs `axis` (kimg or train_minutes); False when there
    is nothing to draw."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves: dict[str, list[list[dict]]] = {}
    for rec in record.get("runs", {}).values():
        if rec.get("curve") and rec.get("status") in ("done", "diverged"):
            curves.setdefault(rec["arm"], []).append(rec["curve"])
    keys = [k for k in keys if any(k in p["metrics"] for runs in curves.values() for c in runs for p in c)]
    if not keys:
        return False
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.6), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        for arm, runs in curves.items():
            n = min(len(c) for c in runs)
            x = [mean_std(c[i][axis] for c in runs).mean for i in range(n)]
            y = [mean_std(c[i]["metrics"].get(key) for c in runs) for i in range(n)]
            ax.plot(x, [s.mean for s in y], marker="o", ms=3, label=f"{arm} ({len(runs)} seeds)")
            ax.fill_between(x, [s.mean - s.std for s in y], [s.mean + s.std for s in y], alpha=0.15)
        floor = record.get("floor", {}).get("metrics", {}).get(key)
        if floor is not None:
            ax.axhline(floor, ls="--", color="gray", label="real floor")
        ax.set_title(key)
        ax.set_xlabel("training minutes" if axis == "train_minutes" else axis)
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def grids(record: dict, results: Path, assets: Path, page_dir: Path) -> list[str]:
    """Copy every run's final grid into assets; a table with one row per arm and one column per seed."""
    seeds = sorted({rec["seed"] for rec in record.get("runs", {}).values()})
    rows = []
    for arm, info in record.get("arms", {}).items():
        cells = []
        for seed in seeds:
            rec = record["runs"].get(f"{arm}/s{seed}", {})
            src = results / rec["grid"] if rec.get("grid") else None
            dst = assets / f"{arm}-s{seed}.png"
            if rec.get("status") not in ("done", "diverged") or not ((src and src.is_file()) or dst.is_file()):
                cells.append("")
                continue
            if src and src.is_file():  # else the copy a previous page kept
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)
            cells.append(f"![{arm} seed {seed}]({dst.relative_to(page_dir).as_posix()})")
        if any(cells):
            rows.append([info.get("label", arm), *cells])
    return table(["arm", *(f"seed {s}" for s in seeds)], rows) if rows else []


def load_record(path: Path, kept: Path) -> dict:
    """The claim's record from its results folder, kept (relative paths) beside the page; else the kept copy."""
    if path.is_file():
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.write_text(scrub(path.read_text()))
    return json.loads(kept.read_text()) if kept.is_file() else {}


def claim_section(mod: ModuleType, results: Path, assets_root: Path, page_dir: Path) -> list[str]:
    """One claim's part of the page."""
    lines = [f"## {mod.TITLE}", "", f"**Claim.** {mod.CLAIM}", ""]
    record = load_record(results / mod.NAME / RESULTS_FILE, assets_root / mod.NAME / RESULTS_FILE)
    done, diverged = finals(record)
    if not any(done.values()) and not any(diverged.values()):
        return [*lines, f"**Not run yet.** Run it with `{mod.COMMAND}`, then regenerate this page.", ""]
    summary = summarize({arm: runs for arm, runs in done.items() if runs})
    lines += ["**Verdicts** (our runs):", ""]
    lines += table(["claim", "metric", "verdict"],
                   [[c.text, f"`{c.metric}`", check_verdict(c, summary, diverged, done)] for c in mod.CHECKS])
    lines += [f"- {note}" for note in getattr(mod, "page_notes", lambda s: [])(summary)]
    lines += [f"- {note}" for note in getattr(mod, "run_notes", lambda r: [])(record)]  # notes on single runs
    lines += ["", "**The paper's numbers beside ours:**", ""]
    rows = []
    for p in mod.PAPER:
        stats = summary.get(p.arm, {})
        key = ours_key(p.metric, stats)
        rows.append([p.source, p.arm, key or p.metric, fmt(p.value), stats[key].text() if key else "not run yet"])
    lines += table(["paper (table, row)", "our arm", "metric", "paper", "ours"], rows)
    floor = record.get("floor", {}).get("metrics", {})
    keys = [k for k in mod.SHOWN if any(k in s for s in summary.values())]
    rows = []
    for arm, info in record.get("arms", {}).items():
        s, runs = summary.get(arm, {}), done.get(arm, [])
        kimg = mean_std(r.get("kimg") for r in record["runs"].values()
                        if r.get("arm") == arm and r.get("status") == "done" and r.get("post_eval_done"))
        rows.append([info.get("label", arm), f"{len(runs)}", f"{diverged.get(arm, 0)}", fmt(kimg.mean),
                     *(s[k].text() if k in s else "" for k in keys)])
    if floor:
        rows.append(["real floor (half A vs half B)", "", "", "", *(fmt(floor.get(k, "")) for k in keys)])
    lines += ["**All arms** (mean ± std over finished seeds):", ""]
    lines += table(["arm", "seeds", "diverged", "kimg", *keys], rows)
    for key in getattr(mod, "CURVE_TABLES", []):
        lines += curve_table(record, key)
    assets = assets_root / mod.NAME
    for axis in getattr(mod, "CURVE_AXES", ("kimg",)) if getattr(mod, "CURVES", None) else ():
        png = assets / ("curves.png" if axis == "kimg" else f"curves-{axis}.png")
        if plot_curves(record, mod.CURVES, png, axis):
            lines += [f"![curves of {mod.NAME} against {axis}]({png.relative_to(page_dir).as_posix()})", ""]
    for name in getattr(mod, "FIGURES", ()):  # figures the claim script writes into its results folder
        if (results / mod.NAME / name).is_file():
            assets.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(results / mod.NAME / name, assets / name)
        if (assets / name).is_file():  # copied now, or kept by a previous page
            lines += [f"![{name} of {mod.NAME}]({(assets / name).relative_to(page_dir).as_posix()})", ""]
    lines += ["**Sample grids** (final EMA generator, every arm and seed):", "",
              *grids(record, results / mod.NAME, assets, page_dir)]
    lines += runs_section(mod, record)
    return lines


def wall_incomplete(rec: dict) -> bool:
    """A wall time that misses a killed session: marked so by the run, or shorter than the training time it holds."""
    return bool(rec.get("wall_s_incomplete")) or rec.get("train_s", 0) > rec.get("wall_s", 0) + 1


def cpu_text(system: dict) -> str:
    """A machine in a few words: its CPU and the vector units that decide its speed (native BF16 or not)."""
    cpu = system.get("cpu", {})
    units = "AVX-512 + BF16" if cpu.get("avx512_bf16") else "AVX-512" if cpu.get("avx512f") else \
        "AVX2" if cpu.get("avx2") else "?"
    return f"{cpu.get('model', '?')}, {units}"


def runs_section(mod: ModuleType, record: dict) -> list[str]:
    """The command, the machine and every run's command, machine and wall time (runs made on another machine and
    kept by an earlier page carry their own)."""
    system = record.get("system", {})
    cpu = system.get("cpu", {})
    settings = ", ".join(f"{k} {v}" for k, v in record.get("notes", {}).items())
    lines = [f"**Command:** `{record.get('command', mod.COMMAND)}` (last run on {cpu_text(system)}, "
             f"{cpu.get('logical_cpus', '?')} logical CPUs, torch {system.get('torch', '?')}, "
             f"{system.get('torch_threads', '?')} threads). Settings: {settings}.", "",
             "<details><summary>Every run: command, wall time, training time</summary>", ""]
    # a "running" record on a written page is a run that has not finished (in progress, or stopped: rerun resumes it)
    status = dict.fromkeys(("running", "stopped"), "not finished (the command resumes it)")
    rows = [[key, f"`{rec.get('command', '')}`", status.get(rec.get("status", ""), rec.get("status", "")) +
             (f" (the run of {rec['reused_from']}, post-evaluated here)" if rec.get("reused_from") else ""),
             ("≥ " if wall_incomplete(rec) else "") + f"{rec.get('wall_s', 0) / 60:.1f}",
             f"{rec.get('train_s', 0) / 60:.1f}", str(rec.get("sessions", "")), cpu_text(rec.get("system", system))]
            for key, rec in record.get("runs", {}).items()]
    lines += table(["run", "command", "status", "wall min", "train min", "sessions", "CPU"], rows)
    if any(map(wall_incomplete, record.get("runs", {}).values())):
        lines += ["", "≥: a session of this run was killed before the experiments kept a wall clock on disk, so its "
                  "wall time is missing from the total."]
    return [*lines, "</details>", ""]


def scrub(text: str) -> str:
    """Repository-relative paths only: the checkout's prefix dropped, any absolute path to a results/ folder cut
    to `results/` (where the experiments write by default)."""
    text = text.replace(str(ROOT) + "/", "").replace(str(ROOT), ".")
    return re.sub(r"(?<![\w.])/(?:[^\s/`'\")]+/)*?results/", "results/", text)


def build_page(results: Path, page: Path, claims: tuple[str, ...] = CLAIMS) -> str:
    """The whole page (also written to `page`, with its assets beside it in <page stem>/)."""
    assets_root = page.parent / page.stem
    lines = ["# Results: the papers' claims at small scale", "",
             "Generated by `experiments/make_results_page.py` from the experiments' result files; do not edit by "
             "hand.", "", HOW]
    for name in claims:
        lines += claim_section(load_claim(name), results, assets_root, page.parent)
    text = scrub("\n".join(lines).rstrip() + "\n")
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(text)
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", default="results/experiments", help="folder holding <claim>/experiment.json")
    p.add_argument("--page", default="docs/results.md", help="page to write (assets go in <page stem>/ beside it)")
    args = p.parse_args(argv)
    build_page(Path(args.results), Path(args.page))
    print(f"wrote {args.page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
