"""SDAKD Tables 1-2 and NICKEL & DiME Table 4 at small scale: compress a Stacked-MNIST teacher that covers at
least 900 modes into C = 1/2, 1/4, 1/8 students, at equal kimg, by five methods.

Arms `<method>-c<C>`: `naive` (the student network trained from scratch with the teacher's recipe, through the
time-to-quality machinery), and `ganforge compress --method kd | sdakd | nickel-dime`, plus `dime` (nickel-dime
with `nickel.lambda_nickel=0`: DiME alone). SDAKD students start random (the paper's); --with-teacher-init adds
`sdakd-tinit` (teacher-channel init) as its own arm. Model selection by validation FID is on (compress's `auto`).
DINO and CLIP weights are not available offline, so --embeddings defaults to the registry's AlexNet trunk with
DINO's weight 20 as a stand-in; the teacher's embedding statistics are computed once and shared by all runs.
After training: modes, reverse KL, confident and FID against the real half B (as the ttq points), FID to the
teacher's own samples, params, MACs and CPU latency (batch 1, --threads) with the speed-up over the teacher.

The teacher is refused unless its recorded evaluation (ttq_state.json of a time-to-quality run, evaluation.json
from `ganforge evaluate --json`, or metrics.jsonl of a training run) shows at least --min-modes modes.

    python experiments/compression.py        # teacher: models/stacked-mnist-g96d128-120min (948 modes)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Arm, Check, Experiment, PaperRow, main
from final_eval import final_generator, net_overrides, real_reference

NAME = "compression"
TITLE = "SDAKD and NICKEL & DiME: distilled students beat the naive small GAN"
CLAIM = ("At equal width fraction C, SDAKD beats the naive small GAN trained from scratch (SDAKD Tables 1-2), and "
         "NICKEL & DiME beats DiME alone, which beats plain output KD (NICKEL & DiME Table 4 and Sec. 4).")
COMMAND = "python experiments/compression.py"
SHOWN = ["fid@classifier-mnist", "fid_to_teacher@classifier-mnist", "modes", "modes_kl", "params", "macs",
         "latency_ms", "speedup"]
CURVES: list[str] = []
FRACTIONS = (0.5, 0.25, 0.125)
METHODS = {"naive": "naive (from scratch)", "kd": "output KD", "sdakd": "SDAKD", "dime": "DiME alone",
           "nickel-dime": "NICKEL & DiME"}
TO_TEACHER = "fid_to_teacher@classifier-mnist"
# SDAKD (003_b66987c167fcadbd.txt) Table 1, GCFSR test FID 64x, rows "GCFSR - (C, C)" (naive) and "SDAKD (ours)";
# NICKEL & DiME (004_8a996bac14216e94.txt) Table 4, StyleGAN2 FFHQ ablation at a compression rate of 98.92% (Sec. 1),
# set beside our C = 1/8 (about 95% of the teacher's MACs cut)
PAPER = [PaperRow("naive-c0.5", "fid", 58.03, "SDAKD Table 1, GCFSR - (1/2, 1/2), test FID 64x"),
         PaperRow("sdakd-c0.5", "fid", 57.94, "SDAKD Table 1, SDAKD (ours) 1/2, test FID 64x"),
         PaperRow("naive-c0.25", "fid", 64.22, "SDAKD Table 1, GCFSR - (1/4, 1/4), test FID 64x"),
         PaperRow("sdakd-c0.25", "fid", 58.61, "SDAKD Table 1, SDAKD (ours) 1/4, test FID 64x"),
         PaperRow("naive-c0.125", "fid", 71.36, "SDAKD Table 1, GCFSR - (1/8, 1/8), test FID 64x"),
         PaperRow("sdakd-c0.125", "fid", 66.76, "SDAKD Table 1, SDAKD (ours) 1/8, test FID 64x"),
         PaperRow("dime-c0.125", "fid", 18.32, "NICKEL & DiME Table 4, row DiME (StyleGAN2 FFHQ, 98.92% MACs cut)"),
         PaperRow("nickel-dime-c0.125", "fid", 15.93, "NICKEL & DiME Table 4, row NICKEL & DiME (same setting)")]
FID = "fid@classifier-mnist"
CHECKS = [c for f in FRACTIONS for c in (
    Check(f"SDAKD beats the naive GAN at C = {f:g}", f"sdakd-c{f:g}", f"naive-c{f:g}", FID),
    Check(f"NICKEL & DiME beats DiME alone at C = {f:g}", f"nickel-dime-c{f:g}", f"dime-c{f:g}", FID),
    Check(f"DiME alone beats plain KD at C = {f:g}", f"dime-c{f:g}", f"kd-c{f:g}", FID))]


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--teacher", default="models/stacked-mnist-g96d128-120min", help="teacher run directory")
    p.add_argument("--min-modes", type=float, default=900, dest="min_modes", help="refuse a weaker teacher")
    p.add_argument("--fractions", default=",".join(f"{f:g}" for f in FRACTIONS))
    p.add_argument("--embeddings", default="alexnet:20", help="DiME embeddings name:lambda, comma list "
                                                              "(the paper: dino:20,clip:15)")
    p.add_argument("--embed-size", type=int, default=64, dest="embed_size", help="embedder input side")
    p.add_argument("--with-teacher-init", action="store_true", dest="teacher_init",
                   help="add sdakd-tinit arms (SDAKD with teacher-channel init)")
    p.add_argument("--eval-num", type=int, default=10_000, dest="eval_num", help="samples of the final metrics")


def teacher_modes(teacher: Path) -> tuple[float, str]:
    """(modes, where they were read) from the teacher's recorded evaluation; SystemExit if there is none."""
    sources = [(teacher / "evaluation.json", lambda d: d["metrics"]["modes"]),
               (teacher / "ttq_state.json", lambda d: next(e["metrics"]["modes"] for e in reversed(d["evals"])
                                                           if "modes" in e["metrics"]))]
    for path, read in sources:
        if path.is_file():
            try:
                return float(read(json.loads(path.read_text()))), path.name
            except (KeyError, StopIteration, json.JSONDecodeError):
                continue
    log = teacher / "metrics.jsonl"
    if log.is_file():
        rows = [json.loads(line) for line in log.read_text().splitlines() if '"modes"' in line]
        if rows:
            return float(rows[-1]["modes"]), log.name
    raise SystemExit(f"teacher {teacher}: no recorded mode count (evaluation.json, ttq_state.json or metrics.jsonl); "
                     f"record one with: ganforge evaluate {teacher} --data stacked-mnist --metrics modes --num 10000 "
                     f"--json {teacher}/evaluation.json")


def check_teacher(teacher: Path, min_modes: float) -> float:
    """The teacher's recorded mode count; SystemExit with the reason when it is missing or below min_modes."""
    if not teacher.is_dir():
        raise SystemExit(f"teacher {teacher} not found; give a trained Stacked-MNIST run with --teacher")
    modes, source = teacher_modes(teacher)
    if modes < min_modes:
        raise SystemExit(f"teacher {teacher} covers {modes:g} modes ({source}), fewer than {min_modes:g}: the "
                         "compression claims need a teacher that has learned; train it further or pass another")
    return modes


def make(args: argparse.Namespace) -> Experiment:
    """Methods x fractions from the checked teacher, equal kimg."""
    from ganforge.compress.student import student_config
    from ganforge.training.finetune import checkpoint_net

    teacher = Path(args.teacher)
    modes = check_teacher(teacher, args.min_modes)
    preset = json.loads((teacher / "config.json").read_text()).get("preset", "tiny")
    out = Path(args.out)
    stats = out / f"teacher_stats-{args.embeddings.replace(':', '').replace(',', '-')}-{args.embed_size}.safetensors"
    embeddings = json.dumps(args.embeddings.split(","), separators=(",", ":"))
    nickel = [f"nickel.embeddings={embeddings}", f"nickel.embed_size={args.embed_size}",
              f"nickel.teacher_stats={stats}"]
    methods = dict(METHODS, **({"sdakd-tinit": "SDAKD, teacher init"} if args.teacher_init else {}))
    arms = []
    for f in (float(x) for x in args.fractions.split(",")):
        for m, label in methods.items():
            name, shown = f"{m}-c{f:g}", f"{label}, C = {f:g}"
            if m == "naive":
                net = student_config(checkpoint_net(teacher), f)
                arms.append(Arm(name, [f"preset={preset}", *net_overrides(net)], label=shown))
                continue
            method = {"dime": "nickel-dime", "sdakd-tinit": "sdakd"}.get(m, m)
            flags = ["--teacher", str(teacher), "--method", method, "--fraction", f"{f:g}"]
            flags += {"dime": [*nickel, "nickel.lambda_nickel=0"], "nickel-dime": nickel,
                      "sdakd-tinit": ["--init", "teacher"]}.get(m, [])
            arms.append(Arm(name, compress=flags, label=shown))
    return Experiment(NAME, "stacked-mnist", arms, unit="kimg", budget=50.0, every=10.0, post_eval=post_eval,
                      notes={"teacher": args.teacher, "teacher_modes": modes, "embeddings": args.embeddings,
                             "budget": "equal kimg per arm"})


_TEACHER: dict[str, Any] = {}


def post_eval(exp: Experiment, rec: dict, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Final metrics against the real half B, FID to the teacher's samples, and the student's cost."""
    from ganforge.compress.report import build_report
    from ganforge.metrics import evaluate_generator, generate_images
    from ganforge.training.load import load_generator

    if rec["status"] != "done":
        return {}
    if args.teacher not in _TEACHER:
        G_T = load_generator(args.teacher)
        _TEACHER[args.teacher] = (G_T, generate_images(G_T, args.eval_num, seed=999))  # latents unlike seed 0's
    G_T, teacher_images = _TEACHER[args.teacher]
    G = final_generator(rec, out)
    extra: dict[str, Any] = {}
    if rec["kind"] == "compress":  # a ttq run (naive) has these from its last point
        _, ref = real_reference(exp.data, args.num)
        extra.update(evaluate_generator(G, ref, "modes,confident,fid@classifier-mnist", num=args.eval_num, seed=0))
    extra[TO_TEACHER] = evaluate_generator(G, teacher_images, FID, num=args.eval_num, seed=0)[FID]
    row = next(r for r in build_report({"student": G, "teacher": G_T}, "teacher", batch_sizes=(1,),
                                       threads=args.threads or 1) if r.name == "student").to_dict()
    extra.update(params=row["params"], macs=row["macs"], latency_ms=row["latency_ms"]["1"],
                 speedup=row["speedup"]["1"])
    return extra


if __name__ == "__main__":
    sys.exit(main(make, NAME, __doc__, add_args=add_args))
