"""SDAKD on its own setting at small scale (issue #14, Sec. 3): an x4 super-resolution GAN teacher trained here with
Real-ESRGAN's two-stage recipe, then C = 1/2, 1/4, 1/8 students by three methods, at equal kimg.

Arms (`ganforge train` / `ganforge compress` runs, in this order): `teacher-esrnet` (the ESRNet stage: L1 alone,
--esrnet-kimg) and `teacher` (the ESRGAN stage: L1 + perceptual + 0.1 GAN from the ESRNet run's EMA generator,
--teacher-kimg), both one run with --teacher-seed; then per C and seed `esrnet-c<C>` (the student network's own
ESRNet stage: L1 alone, --student-esrnet-kimg, no teacher), and from its EMA generator `naive-c<C>` (the teacher's
ESRGAN-stage recipe), `kd-c<C>` and `sdakd-c<C>` (`ganforge compress --method kd | sdakd` on the teacher run, with
`init_from`), each --budget kimg. Every method thus gets the same start and the same kimg: Real-ESRGAN's recipe,
which the naive student follows, begins with the ESRNet stage, and without it 10 kimg from random weights left
every student below bicubic upsampling, whatever the method (C = 1/2, 3 seeds each: PSNR 26.95-27.05 and LPIPS
0.353-0.359 on average, against bicubic's 29.45 and 0.320, with checkerboard artefacts; docs/super_resolution.md).
SDAKD's paper starts its stage 2 from random students; --student-esrnet-kimg 0 runs that.

The teacher is the sr-tiny recipe (HR crops of the built-in photos, batch 8) with --teacher-overrides: by default an
SRVGGNetCompact of 64 features and 16 convolutions (realesr-animevideov3's shape), a U-Net D of 64 features and
64 px HR crops (16 px LR inputs).

LR inputs come from --degradation, by default bicubic downsampling rather than Real-ESRGAN's second-order
degradation. At these sizes the latter leaves too little to restore: measured with the ESRNet stage alone (32 kimg,
64 px crops, seed 0) on the held-out pairs, the network beat bicubic upsampling by 1.7 dB PSNR (31.14 against
29.45) and LPIPS 0.271 against 0.320 on bicubic-degraded pairs, but on Real-ESRGAN-degraded pairs every output
was a blur (23.91 against 22.81 dB, LPIPS 0.550 against 0.624), and the teacher and its students would be compared
on blurs (docs/super_resolution.md has the table and the command). `--degradation realesrgan` runs the blind
setting.

After training every run is scored the same way on one fixed set of held-out pairs (--eval-pairs crops of
--eval-crop px from --eval-data, degraded as in training, drawn with --eval-seed): PSNR and SSIM on Y with the scale
as border (ganforge.metrics.sr), LPIPS-VGG16 on the whole crops when its weights are installed (else `lpips_skipped`
says why, and no number), FID on --fid-patch px crops of the outputs against the HR pairs (--fid-features, default
the offline VGG16; else `fid_crops_skipped` says why), params, MACs and batch-1 CPU latency at 100x100 (the paper's
400 px HR crops) and 32x32 LR inputs with the speed-up over the teacher (timed in alternation, --threads). The
teacher arms also record bicubic upsampling's scores on the same pairs (bicubic_psnr, ...): the floor a network must
beat. crops.png shows detailed held-out crops side by side: LR, bicubic, the teacher and one run (the lowest seed)
of every student arm, HR.

Length on the 2-core CPU with --threads 2 (measured: teacher ESRNet 11 min, ESRGAN stage 31 min, a C = 1/2 student
8-10 min): the teacher about 45 minutes, each student run 5-10 minutes, 4-5 hours in all.

    python experiments/sr.py --threads 2                              # teacher + 12 student arms x seeds 0,1,2
    python experiments/sr.py --arms teacher-esrnet,teacher,esrnet-c0.25,sdakd-c0.25 --seeds 0
    python experiments/sr.py --threads 2 --redo-post-eval             # score the finished runs again, no training
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from aggregate import Stat
from common import Arm, Check, Experiment, PaperRow, load_record, main

NAME = "sr"
TITLE = "SDAKD on super-resolution: distilled x4 students against the naive small network, and their speed-ups"
CLAIM = ("At equal width fraction C = 1/2, 1/4 and 1/8, an SDAKD student of an x4 super-resolution GAN beats the same "
         "network trained from scratch with the teacher's recipe (SDAKD Tables 1-2, there in FID), and the students "
         "run 1.98x, 3.43x and 4.35x faster than the teacher (Table 3, GCFSR on a GPU; the issue's CPU targets are 2x, "
         "3.5x and 5x).")
COMMAND = "python experiments/sr.py --threads 2"
SHOWN = ["psnr", "ssim", "lpips", "fid_crops@vgg16", "fid_crops@inception", "params", "macs@lr100", "latency_ms@lr100",
         "speedup@lr100", "speedup@lr32"]
CURVES: list[str] = []
FIGURES = ["crops.png"]  # written into the results folder, shown on the page
FRACTIONS = (0.5, 0.25, 0.125)
METHODS = {"naive": "naive (the teacher's recipe)", "kd": "output KD", "sdakd": "SDAKD"}
LR_SIZES = (100, 32)  # LR sides of the cost report: Real-ESRGAN's 400 px HR crops at x4, and a small one
TARGETS = {0.5: 2.0, 0.25: 3.5, 0.125: 5.0}  # the CPU latency speed-up targets
# SDAKD (003_b66987c167fcadbd.txt): Table 3 speed-ups (GCFSR, Real-ESRGAN) and Table 2 test FID 4x on Real-ESRGAN
# (rows "Real-ESRGAN - (C, C)" for naive and "SDAKD (ours)"); the paper reports no PSNR, SSIM or LPIPS
GPU_SPEEDUPS = {0.5: (1.98, 1.77), 0.25: (3.43, 1.96), 0.125: (4.35, 2.08)}
TABLE2_FID = {0.5: (58.24, 49.57), 0.25: (62.94, 50.49), 0.125: (71.74, 56.47)}
# the paper's test FID is on Inception features of whole test images; ours (fid_crops) on crops, VGG16 by default
PAPER = [PaperRow("teacher", "fid_crops", "test FID 45.62", "SDAKD Table 2, Real-ESRGAN (teacher)")]
for _f, (_naive, _sdakd) in TABLE2_FID.items():
    PAPER += [PaperRow(f"naive-c{_f:g}", "fid_crops", f"test FID {_naive}",
                       f"SDAKD Table 2, Real-ESRGAN - ({_f:g}, {_f:g})"),
              PaperRow(f"sdakd-c{_f:g}", "fid_crops", f"test FID {_sdakd}", f"SDAKD Table 2, SDAKD (ours) {_f:g}")]
for _f, (_gcfsr, _resrgan) in GPU_SPEEDUPS.items():
    PAPER += [PaperRow(f"sdakd-c{_f:g}", "speedup", _gcfsr, f"SDAKD Table 3, GCFSR speed-up at {_f:g} (GPU)"),
              PaperRow(f"sdakd-c{_f:g}", "speedup", _resrgan, f"SDAKD Table 3, Real-ESRGAN speed-up at {_f:g} (GPU)")]
CHECKS = [c for f in FRACTIONS for c in (
    Check(f"SDAKD beats the naive student at C = {f:g} (LPIPS)", f"sdakd-c{f:g}", f"naive-c{f:g}", "lpips"),
    Check(f"SDAKD beats the naive student at C = {f:g} (PSNR)", f"sdakd-c{f:g}", f"naive-c{f:g}", "psnr"),
    Check(f"SDAKD beats plain KD at C = {f:g} (LPIPS)", f"sdakd-c{f:g}", f"kd-c{f:g}", "lpips"),
    Check(f"SDAKD beats the naive student at C = {f:g} (FID on crops)", f"sdakd-c{f:g}", f"naive-c{f:g}",
          "fid_crops"))]
ESRNET, TEACHER = "teacher-esrnet", "teacher"
STUDENT_KIMG = 10.0  # every student arm (--budget): `ganforge compress`'s default length, 1,250 steps
STUDENT_ESRNET_KIMG = 80.0  # each student's L1 stage: half the teacher's (a C = 1/2 step costs a quarter)
# SRVGGNetCompact 64 x 16 (realesr-animevideov3's shape) with a U-Net D as wide (as Real-ESRGAN's), on 64 px HR
# crops (sr-tiny's 32 px leave 8 px LR inputs, less than the receptive field), batch 8
TEACHER_OVERRIDES = "sr.net.num_feat=64 sr.net.num_conv=16 sr.disc.num_feat=64 sr.crop=64"


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--teacher-overrides", default=TEACHER_OVERRIDES, dest="teacher_overrides",
                   help="config overrides of the teacher on the sr-tiny / sr-tiny-esrnet presets (students inherit)")
    p.add_argument("--degradation", default="bicubic", choices=("realesrgan", "bicubic"),
                   help="how LR inputs are made from HR crops, in training and in the held-out pairs")
    p.add_argument("--esrnet-kimg", type=float, default=160.0, dest="esrnet_kimg",
                   help="the teacher's ESRNet stage (20,000 steps: about 13 min on 2 cores)")
    p.add_argument("--teacher-kimg", type=float, default=16.0, dest="teacher_kimg",
                   help="the teacher's ESRGAN stage (2,000 steps: about 30 min on 2 cores)")
    p.add_argument("--teacher-seed", type=int, default=0, dest="teacher_seed")
    p.add_argument("--student-esrnet-kimg", type=float, default=STUDENT_ESRNET_KIMG, dest="student_esrnet_kimg",
                   help="every student's own ESRNet stage (L1 alone), the start of all three methods; 0: random")
    p.add_argument("--fractions", default=",".join(f"{f:g}" for f in FRACTIONS))
    p.add_argument("--eval-data", default="photos", dest="eval_data", help="HR photos of the held-out pairs")
    p.add_argument("--eval-crop", type=int, default=128, dest="eval_crop", help="HR side of the held-out pairs")
    p.add_argument("--eval-pairs", type=int, default=64, dest="eval_pairs")
    p.add_argument("--eval-seed", type=int, default=2_000_000, dest="eval_seed")
    p.add_argument("--eval-degradation", choices=("realesrgan", "bicubic"), dest="eval_degradation",
                   help="the held-out LR inputs (default: --degradation)")
    p.add_argument("--crop-rows", type=int, default=4, dest="crop_rows", help="example crops in crops.png")
    p.add_argument("--latency-rounds", type=int, default=3, dest="latency_rounds")
    p.add_argument("--fid-features", default="vgg16", dest="fid_features",
                   help="extractor of the FID on crops: vgg16 (offline ImageNet trunk), or inception with its weights")
    p.add_argument("--fid-patch", type=int, default=32, dest="fid_patch", help="HR side of the FID crops")
    p.add_argument("--fid-size", type=int, default=64, dest="fid_size", help="vgg16 / alexnet input side")


def run_dir(out: Path, arm: str, seed: int) -> Path:
    """Where common.run_cli_arm puts the `ganforge train` run of (arm, seed)."""
    return out / "train" / f"{arm}-s{seed}"


def make(args: argparse.Namespace) -> Experiment:
    """Teacher (two stages, one seed), then naive / kd / sdakd students per fraction at equal kimg."""
    from ganforge.compress.sr_student import sr_student_config
    from ganforge.training import get_preset
    from ganforge.training.overrides import apply_overrides
    from ganforge.training.validate import validate_config

    out, ts = Path(args.out), args.teacher_seed
    base = [*shlex.split(args.teacher_overrides), f"sr.degradation={args.degradation}"]
    args.eval_degradation = args.eval_degradation or args.degradation
    try:  # the teacher's config, checked now rather than after the first runs
        net = validate_config(apply_overrides(get_preset("sr-tiny"), base)).sr
    except ValueError as e:
        raise SystemExit(f"--teacher-overrides: {e}") from None
    teacher = str(run_dir(out, TEACHER, ts))
    arms = [Arm(ESRNET, train=["--preset", "sr-tiny-esrnet", *base], label="teacher, ESRNet stage (L1)",
                budget=args.esrnet_kimg, seeds=[ts]),
            Arm(TEACHER, train=["--preset", "sr-tiny", "--init-from", str(run_dir(out, ESRNET, ts)), *base],
                label="teacher (ESRGAN stage)", budget=args.teacher_kimg, seeds=[ts])]
    for f in (float(x) for x in args.fractions.split(",")):
        g, d = sr_student_config(net.net, f), sr_student_config(net.disc, f)
        widths = [f"sr.net.num_feat={g.num_feat}", f"sr.net.num_grow_ch={g.num_grow_ch}",
                  f"sr.disc.num_feat={d.num_feat}"]
        train_start, compress_start = [], []
        if args.student_esrnet_kimg > 0:  # "{seed}": each seed starts from its own ESRNet stage (common.run_cli_arm)
            arms.append(Arm(f"esrnet-c{f:g}", train=["--preset", "sr-tiny-esrnet", *base, *widths],
                            label=f"student ESRNet stage (L1), C = {f:g}", budget=args.student_esrnet_kimg))
            start = str(out / "train" / f"esrnet-c{f:g}-s{{seed}}")
            train_start, compress_start = ["--init-from", start], [f"init_from={start}"]
        arms.append(Arm(f"naive-c{f:g}", train=["--preset", "sr-tiny", *train_start, *base, *widths],
                        label=f"{METHODS['naive']}, C = {f:g}"))
        arms += [Arm(f"{m}-c{f:g}", compress=["--teacher", teacher, "--method", m, "--fraction", f"{f:g}",
                                              *compress_start], label=f"{METHODS[m]}, C = {f:g}")
                 for m in ("kd", "sdakd")]
    return Experiment(NAME, "photos", arms, unit="kimg", budget=STUDENT_KIMG, every=STUDENT_KIMG, post_eval=post_eval,
                      notes={"teacher_overrides": args.teacher_overrides, "degradation": args.degradation,
                             "esrnet_kimg": args.esrnet_kimg, "student_esrnet_kimg": args.student_esrnet_kimg,
                             "teacher_kimg": args.teacher_kimg, "eval": f"{args.eval_pairs} pairs of "
                             f"{args.eval_crop} px from {args.eval_data} ({args.eval_degradation}, seed "
                             f"{args.eval_seed})", "budget": "equal kimg per student arm"})


_CACHE: dict[str, Any] = {}


def eval_pairs(args: argparse.Namespace, scale: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed held-out (LR, HR) pairs every run is scored on (drawn once per process)."""
    from ganforge.data.degradation import DegradationConfig
    from ganforge.data.sr_pairs import SRPairSampler, load_hr_images

    key = f"pairs-{scale}"
    if key not in _CACHE:
        images = load_hr_images(args.eval_data, args.eval_crop)
        _CACHE[key] = SRPairSampler(images, args.eval_crop, scale, args.eval_pairs, args.eval_seed,
                                    DegradationConfig(mode=args.eval_degradation), hflip=False).next()
    return _CACHE[key]


def lpips_net() -> tuple[torch.nn.Module | None, str | None]:
    """(LPIPS-VGG16, None), or (None, why it is skipped) when its weights are not installed."""
    from ganforge.training.sr_task import build_lpips, resolve_lpips_net

    if "lpips" not in _CACHE:
        net, note = resolve_lpips_net("auto")  # VGG16, or "none" and why
        _CACHE["lpips"] = (build_lpips(net), note)
    return _CACHE["lpips"]


def generator(rec: dict, out: Path) -> torch.nn.Module:
    """The exported (EMA) generator of a train or compress run."""
    from ganforge.compress.sr_cost import sr_run_generator
    from ganforge.networks.sr.weights import load_sr_weights

    path = sr_run_generator(out / rec["checkpoint"])
    if path is None:
        raise RuntimeError(f"{rec['checkpoint']}: no generator.safetensors of a task=sr run")
    return load_sr_weights(path).eval()


def post_eval(exp: Experiment, rec: dict, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """PSNR / SSIM / LPIPS on the fixed held-out pairs, the cost against the teacher, and crops.png redrawn."""
    from ganforge.compress.sr_cost import build_sr_report, sr_run_generator
    from ganforge.training.sr_task import bicubic_upscale, sr_scores, upscale_in_chunks

    if rec["status"] != "done":
        return {}
    G = generator(rec, out)
    scale = G.cfg.scale
    lr, hr = eval_pairs(args, scale)
    lpips, note = lpips_net()
    sr_out = upscale_in_chunks(G, lr, torch.device("cpu"))
    extra: dict[str, Any] = {**sr_scores(sr_out, hr, scale, torch.device("cpu"), lpips), **crop_fid(sr_out, hr, args)}
    if note is not None:
        extra["lpips_skipped"] = note
    if rec["arm"] in (ESRNET, TEACHER):  # the floor: bicubic upsampling of the same pairs
        up = bicubic_upscale(lr, scale)
        scores = {**sr_scores(up, hr, scale, torch.device("cpu"), lpips), **crop_fid(up, hr, args)}
        extra.update({f"bicubic_{k}": v for k, v in scores.items() if not k.endswith("_skipped")})
    nets = {"student": G}  # the teacher arms are the reference themselves (ESRNet: the teacher's network)
    if rec["arm"] not in (ESRNET, TEACHER):
        teacher = run_dir(out, TEACHER, args.teacher_seed)
        if sr_run_generator(teacher) is None:
            raise RuntimeError(f"{teacher.relative_to(out)}: the teacher run is missing; run the teacher arms first")
        nets["teacher"] = generator({"checkpoint": teacher.relative_to(out)}, out)
    row = next(r for r in build_sr_report(nets, "teacher" if "teacher" in nets else "student", LR_SIZES,
                                          threads=args.threads or 1, rounds=args.latency_rounds)
               if r.name == "student").to_dict()
    extra.update(params=row["params"], params_ratio=row["params_ratio"],
                 **{f"macs@lr{s}": row["macs"][str(s)] for s in LR_SIZES},
                 **{f"latency_ms@lr{s}": row["latency_ms"][str(s)] for s in LR_SIZES},
                 **{f"speedup@lr{s}": row["speedup"][str(s)] for s in LR_SIZES}, latency_threads=row["threads"])
    write_crops(exp, rec, args, out)
    return extra


def crop_fid(sr: torch.Tensor, hr: torch.Tensor, args: argparse.Namespace) -> dict[str, Any]:
    """{"fid_crops@<extractor>": FID} of the outputs against the HR images on --fid-patch crops (SDAKD reports FID),
    or {"fid_crops_skipped": why} when the extractor cannot be built (e.g. Inception without its weights)."""
    from ganforge.metrics.sr import fid_on_crops

    try:
        fid = fid_on_crops(sr, hr, args.fid_patch, args.fid_features, size=args.fid_size)
    except (OSError, ValueError) as e:  # ganforge's UserError (weights missing) is a ValueError
        return {"fid_crops_skipped": str(e)}
    return {f"fid_crops@{args.fid_features}": fid}


def crop_runs(exp: Experiment, rec: dict, out: Path) -> dict[str, dict]:
    """{arm: its finished run of the lowest seed} in arm order, the ESRNet stages (teacher's and students') left out;
    `rec` counts as finished."""
    runs = {**load_record(out).get("runs", {}), f"{rec['arm']}/s{rec['seed']}": {**rec, "post_eval_done": True}}
    chosen: dict[str, dict] = {}
    for r in sorted(runs.values(), key=lambda r: r.get("seed", 0)):
        if r.get("status") == "done" and r.get("post_eval_done"):
            chosen.setdefault(r["arm"], r)
    return {a.name: chosen[a.name] for a in exp.arms if a.name in chosen and "esrnet" not in a.name}


def detailed(hr: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of k held-out crops spread evenly over the more detailed half (fine detail: mean |HR - its 3x3 box
    blur|), in held-out order: on a flat crop (plain sky) every method looks the same, and the k most detailed
    crops tend to come from one photo."""
    import torch.nn.functional as F

    detail = (hr - F.avg_pool2d(hr, 3, 1, 1, count_include_pad=False)).abs().mean((1, 2, 3))
    ranked, k = detail.argsort(), min(k, len(hr))
    lo = min(len(hr) // 2, len(hr) - k)
    return ranked[torch.linspace(lo, len(hr) - 1, k).round().long()].sort().values


def write_crops(exp: Experiment, rec: dict, args: argparse.Namespace, out: Path) -> Path | None:
    """out/crops.png: one row per example crop (detailed ones), columns LR (nearest), bicubic, each finished
    arm, HR, labelled; None while only the ESRNet stage has finished."""
    import torch.nn.functional as F
    from PIL import Image, ImageDraw
    from torchvision.utils import make_grid

    from ganforge.training.sr_task import bicubic_upscale, upscale_in_chunks

    runs = crop_runs(exp, rec, out)
    if not runs:
        return None
    nets = {arm: generator(r, out) for arm, r in runs.items()}
    scale = next(iter(nets.values())).cfg.scale
    lr, hr = eval_pairs(args, scale)
    rows = detailed(hr, args.crop_rows)
    lr, hr = lr[rows], hr[rows]
    columns = {"LR": F.interpolate(lr, scale_factor=scale, mode="nearest"),
               "bicubic": bicubic_upscale(lr, scale),
               **{arm: upscale_in_chunks(G, lr, torch.device("cpu")) for arm, G in nets.items()}, "HR": hr}
    pad, head = 2, 14
    grid = make_grid(torch.stack(list(columns.values()), 1).flatten(0, 1), nrow=len(columns), padding=pad,
                     pad_value=1.0)
    image = Image.fromarray(grid.mul(255).round().byte().permute(1, 2, 0).numpy())
    canvas = Image.new("RGB", (image.width, image.height + head), "white")
    canvas.paste(image, (0, head))
    draw, step = ImageDraw.Draw(canvas), hr.shape[-1] + pad
    for i, name in enumerate(columns):
        draw.text((pad + i * step + 2, 1), name, fill="black")
    path = out / "crops.png"
    canvas.save(path)
    return path


def page_notes(summary: dict[str, dict[str, Stat]]) -> list[str]:
    """The bicubic floor beside the teacher, and the latency part of the claim: each fraction's measured speed-up
    beside the paper's and the issue's target."""
    lines = []
    teacher = summary.get(TEACHER, {})
    if teacher.get("bicubic_psnr") is not None:
        fids = sorted(k for k in teacher if k.startswith("fid_crops@"))  # the FID names its features
        metrics = [k for k in ("psnr", "ssim", "lpips", *fids) if f"bicubic_{k}" in teacher and k in teacher]
        pairs = ", ".join(f"{k.upper() if '@' not in k else 'FID on crops (' + k.split('@')[1] + ')'} "
                          f"{teacher[k].text(4)} against {teacher['bicubic_' + k].text(4)}" for k in metrics)
        lines.append(f"The teacher against bicubic upsampling of the same held-out pairs: {pairs}.")
    ours = sorted({k for stats in summary.values() for k in stats if k.startswith("fid_crops@")})
    if ours:
        lines.append(f"FID: the paper's test FID uses Inception features of whole test images, ours "
                     f"({', '.join(ours)}) the named features of crops of the held-out pairs; compare the order of "
                     "the arms, not the values.")
    for f, (gcfsr, resrgan) in GPU_SPEEDUPS.items():
        s = summary.get(f"sdakd-c{f:g}", {}).get("speedup@lr100")
        if s is not None and s.n:
            met = "meets" if s.mean >= TARGETS[f] else "misses"
            lines.append(f"C = {f:g}: CPU speed-up over the teacher at 100x100 LR inputs {s.text(3)}x (SDAKD "
                         f"Table 3 on a GPU: {gcfsr}x GCFSR, {resrgan}x Real-ESRGAN); {met} the issue's "
                         f"{TARGETS[f]:g}x target.")
    return lines


def run_notes(record: dict) -> list[str]:
    """The finished runs whose PSNR is below bicubic upsampling of the same pairs (the teacher's record holds it):
    students that did not learn to upscale, which a mean over seeds would hide."""
    runs = record.get("runs", {})
    floor = next((r["final"]["bicubic_psnr"] for r in runs.values()
                  if r.get("arm") == TEACHER and "bicubic_psnr" in r.get("final", {})), None)
    low = [f"{key} ({r['final']['psnr']:.2f})" for key, r in runs.items() if floor is not None
           and r.get("status") == "done" and r.get("post_eval_done") and r.get("final", {}).get("psnr", floor) < floor]
    return [f"Runs below bicubic upsampling's PSNR ({floor:.2f}): {', '.join(low)}."] if low else []


if __name__ == "__main__":
    sys.exit(main(make, NAME, __doc__, add_args=add_args))
