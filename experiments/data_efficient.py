"""Data-efficient training (slides 002): no augmentation vs DiffAugment vs ADA with 100, 500 and 1,000 training
digits, at equal images seen within each size, long enough that D without augmentation overfits.

Arms `n<size>-<augment>` (ganforge config keys): `data_size=<size>` (a fixed random subset of mnist5k, drawn
with the run's seed) and `augment.kind=none | diffaugment | ada` (DiffAugment: color,translation,cutout at p = 1;
ADA: adaptive p, target 0.6, `augment.ada_kimg` = --ada-kimg so p can move within a run of this length). The ttq
points measure every arm against the same real half of all 5,000 digits. After training: FID of --fid-num samples
against all 5,000 digits, and the slides' D-overfit ratio (E[D_train] - E[D_held-out]) / (E[D_train] -
E[D_generated]) on un-augmented images, held-out = digits outside the run's training subset (0: no overfitting).
Larger sets need longer runs before D overfits: --size-kimg gives each size its budget (100 digits: 100 kimg, 500:
200, 1,000: 300); --budget gives every arm the same one instead.

    python experiments/data_efficient.py                           # 9 arms x seeds 0,1,2
    python experiments/data_efficient.py --arms n100-none,n100-diffaugment --budget 20 --seeds 0
"""

from __future__ import annotations

import argparse
import itertools
import shlex
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from aggregate import Stat
from common import Arm, Check, Experiment, PaperRow, main
from final_eval import final_generator

NAME = "data_efficient"
TITLE = "Data-efficient training: augmentation helps more as the data shrink"
CLAIM = ("With 100, 500 and 1,000 training digits and training long enough that D without augmentation overfits "
         "(D-overfit ratio clearly above 0), DiffAugment and ADA improve FID against all 5,000 digits, and more so "
         "the fewer the digits (slides 002, 'GANs heavily deteriorate given limited data', 'Benefit with varying "
         "training samples').")
COMMAND = "python experiments/data_efficient.py"
FID_ALL = "fid_all@classifier-mnist"  # FID against all 5,000 digits
SHOWN = [FID_ALL, "fid@classifier-mnist", "d_overfit", "confident"]
CURVES = ["fid@classifier-mnist"]
SIZES = (100, 500, 1000)
# 500 digits, no augmentation: E[D_train] - E[D_held-out] grew from +0.05 to +0.08 between 100 and 200 kimg in
# every seed, and FID kept falling (4.2 to 2.8); at 100 kimg neither had settled
SIZE_KIMG = "100:100,500:200,1000:300"
AUGMENTS = {"none": "no augmentation", "diffaugment": "DiffAugment", "ada": "ADA"}
# the slides (002_193bdac1dd80552d.txt) show the effect as figures only: the paper column is qualitative
PAPER = [PaperRow("n100-diffaugment", "fid_all", "better than none",
                  "slides: 'Low-shot generation with 100 samples'"),
         PaperRow("n1000-diffaugment", "fid_all", "better than none, by less",
                  "slides: 'Benefit with varying training samples'"),
         PaperRow("n100-none", "d_overfit", "> 0 (D overfits)", "slides: 'Discriminator overfitting', r_t")]
CHECKS = [Check(f"{AUGMENTS[a]} improves FID (all 5,000) with {n} digits", f"n{n}-{a}", f"n{n}-none",
                FID_ALL) for n in SIZES for a in ("diffaugment", "ada")]


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="mnist5k")
    p.add_argument("--base", default="preset=tiny", help="overrides every arm starts from")
    add_size_args(p)
    p.add_argument("--ada-kimg", type=float, default=20.0, dest="ada_kimg", help="ADA's p speed (kimg for 0 -> 1)")
    p.add_argument("--fid-num", type=int, default=5000, dest="fid_num", help="samples for the FID against all data")


def add_size_args(p: argparse.ArgumentParser) -> None:
    """--sizes and --size-kimg, shared with pretrained_d.py so both train each size equally long."""
    p.add_argument("--sizes", default=",".join(map(str, SIZES)), help="training-set sizes")
    p.add_argument("--size-kimg", default=SIZE_KIMG, dest="size_kimg",
                   help="size:kimg,...: each training-set size's budget (--budget overrides it for every arm)")


def augment_overrides(kind: str, ada_kimg: float) -> list[str]:
    if kind == "none":
        return ["augment.kind=none"]
    if kind == "diffaugment":
        return ["augment.kind=diffaugment", "augment.policy=color,translation,cutout"]
    return ["augment.kind=ada", "augment.p_mode=adaptive", "augment.ada_target=0.6", f"augment.ada_kimg={ada_kimg:g}"]


def size_budgets(args: argparse.Namespace) -> dict[int, float | None]:
    """Each of --sizes' budget in kimg from --size-kimg (None: --budget decides, the same for every arm)."""
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        raise SystemExit(f"--sizes {args.sizes!r}: give training-set sizes as integers, e.g. 100,500,1000") from None
    if args.budget:
        return dict.fromkeys(sizes)
    try:
        table = {int(n): float(k) for n, k in (item.split(":") for item in args.size_kimg.split(","))}
    except ValueError:
        raise SystemExit(f"--size-kimg {args.size_kimg!r}: give size:kimg pairs, e.g. 100:100,500:200") from None
    missing = [n for n in sizes if n not in table]
    if missing or any(k <= 0 for k in table.values()):
        raise SystemExit(f"--size-kimg {args.size_kimg!r}: give a positive budget for every size in --sizes "
                         f"(missing: {', '.join(map(str, missing)) or 'none'}), e.g. {SIZE_KIMG}")
    return {n: table[n] for n in sizes}


def budget_note(budgets: dict[int, float | None]) -> str:
    """The page's line on how long each arm trained."""
    if None in budgets.values():
        return "equal kimg per arm"
    return "equal kimg per arm at each size: " + ", ".join(f"{n} digits {k:g} kimg" for n, k in budgets.items())


def make(args: argparse.Namespace) -> Experiment:
    """Sizes x augmentations on the base recipe, equal kimg within a size."""
    base = shlex.split(args.base)
    budgets = size_budgets(args)
    arms = [Arm(f"n{n}-{a}", [*base, f"data_size={n}", *augment_overrides(a, args.ada_kimg)],
                label=f"{n} digits, {label}", budget=kimg)
            for n, kimg in budgets.items() for a, label in AUGMENTS.items()]
    return Experiment(NAME, args.data, arms, unit="kimg", budget=100.0, every=20.0, post_eval=post_eval,
                      notes={"base": args.base, "ada_kimg": args.ada_kimg, "budget": budget_note(budgets)})


def split(data: str, size: int, seed: int) -> tuple[Any, Any, Any]:
    """(all images, the run's training subset, the rest): the subset the Trainer drew (data_size, seed)."""
    from ganforge.data import load_dataset

    full = load_dataset(data)
    train = load_dataset(data, size=size, seed=seed, max_images=size)
    seen = {bytes(img.numpy().tobytes()) for img in train.images}
    held = [i for i, img in enumerate(full.images) if img.numpy().tobytes() not in seen]
    return full, train, full.images[held]


def post_eval(exp: Experiment, rec: dict, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """FID against all the data, and the D-overfit ratio of the final checkpoint's D."""
    if rec["status"] != "done":
        return {}
    full, train, held = split(exp.data, data_size(rec), rec["seed"])
    G = final_generator(rec, out)
    return {**fid_all(G, full, args.fid_num), **d_overfit(G, out / rec["checkpoint"], train.images, held)}


def data_size(rec: dict) -> int:
    return int(next(o for o in rec["overrides"] if o.startswith("data_size=")).split("=")[1])


def fid_all(G: Any, full: Any, num: int) -> dict[str, float]:
    """FID of `num` samples of G against all the data, not only the training subset."""
    from ganforge.metrics import evaluate_generator

    key = "fid@classifier-mnist"
    return {FID_ALL: evaluate_generator(G, full, key, num=num, seed=0)[key]}


def d_overfit(G: Any, checkpoint: Path, train: torch.Tensor, held: torch.Tensor) -> dict[str, float]:
    """The slides' D-overfit ratio (E[D_train] - E[D_held-out]) / (E[D_train] - E[D_generated]) of the checkpoint's
    D, with as many of G's samples as held-out images; and d_auc, the chance that D scores a training input above a
    held-out one: offset-free and bounded, 0.5 when D has not memorised (the ratio's denominator can be ~0)."""
    from augment_comparison import d_logits, per_image_mean
    from scipy.stats import mannwhitneyu

    from ganforge.metrics import generate_images
    from ganforge.training.load import load_discriminator

    D = load_discriminator(checkpoint)
    fake = generate_images(G, len(held), seed=1)
    s_train, s_held, s_gen = (d_logits(D, x).double() for x in (train, held, fake))
    d_train, d_held, d_gen = (per_image_mean(D, s) for s in (s_train, s_held, s_gen))
    ratio = (d_train - d_held) / (d_train - d_gen) if d_train != d_gen else float("nan")
    u = mannwhitneyu(s_train.numpy(), s_held.numpy()).statistic
    auc = float(u) / (len(s_train) * len(s_held))  # U / (n1 n2) = ROC AUC
    return {"d_overfit": ratio, "d_train": d_train, "d_heldout": d_held, "d_generated": d_gen, "d_auc": auc}


def page_notes(summary: dict[str, dict[str, Stat]]) -> list[str]:
    """The two parts of the claim the checks do not cover: does D overfit, and does the gain grow as data shrink."""
    lines = []
    for n in SIZES:
        arm = summary.get(f"n{n}-none", {})
        s = arm.get("d_overfit")
        if s is not None and s.n:
            state = "1 seed: no spread yet" if s.n < 2 else "clearly above 0" if s.mean - s.std > 0 else \
                "not clearly above 0"
            parts = ""
            if all(k in arm for k in ("d_train", "d_heldout", "d_generated")):  # the ratio's two sides, of the means
                parts = (f"; E[D_train] - E[D_held-out] {arm['d_train'].mean - arm['d_heldout'].mean:+.3g}, "
                         f"E[D_train] - E[D_generated] {arm['d_train'].mean - arm['d_generated'].mean:+.3g}")
            auc = arm.get("d_auc")
            if auc is not None and auc.n:  # the offset-free check beside the ratio
                seen = "1 seed; chance is" if auc.n < 2 else "above chance," if auc.mean - auc.std > 0.5 else \
                    "not clearly above chance,"
                parts += (f"; D scores a training input above a held-out one with probability {auc.text()} "
                          f"({seen} 0.5)")
            lines.append(f"D-overfit ratio without augmentation, {n} digits: {s.text()} ({state}{parts}).")
    for a in ("diffaugment", "ada"):
        lines += gain_note(summary, a, "none", AUGMENTS[a], "none")
    da = fid_gains(summary, "diffaugment", "none")
    if len(da) >= 2 and all(g <= 0 for _, g, _ in da):
        lines.append("Why DiffAugment does worse here: its full policy makes the recipe's packed D (net.pack=4) stop "
                     "discriminating after about 20 kimg (docs/augment.md, 'DiffAugment and the CPU recipe's packed "
                     "discriminator').")
    return lines


def fid_gains(summary: dict[str, dict[str, Stat]], kind: str, base: str) -> list[tuple[int, float, int]]:
    """(size, % FID gain of arm kind over arm base (of the means), fewer seeds of the two) at each size with both."""
    gains = []
    for n in SIZES:
        b, k = (summary.get(f"n{n}-{x}", {}).get(FID_ALL) for x in (base, kind))
        if b is not None and k is not None and b.n and k.n:
            gains.append((n, 100 * (b.mean - k.mean) / b.mean, min(b.n, k.n)))
    return gains


def gain_note(summary: dict[str, dict[str, Stat]], kind: str, base: str, name: str, against: str) -> list[str]:
    """Arm kind's FID gain (all 5,000) over arm base at each size (of the means), and whether it grows as the data
    shrink; nothing until two sizes have both arms. Sizes with fewer than 2 seeds of either arm say so."""
    gains = fid_gains(summary, kind, base)
    if len(gains) < 2:
        return []
    shown = ", ".join(f"{n} digits {g:+.1f}%" + (f" ({seeds} seed)" if seeds < 2 else "") for n, g, seeds in gains)
    worse = [f"{n} digits" for n, g, _ in gains if g <= 0]
    if len(worse) == len(gains):
        return [f"{name} FID gain over {against} (of the means): {shown}; worse than {against} at every size, so "
                "there is no gain to grow as the data shrink."]
    grows = all(g1 >= g2 for (_, g1, _), (_, g2, _) in itertools.pairwise(gains))
    if grows and worse:  # rising from a loss is not a growing gain
        return [f"{name} FID gain over {against} (of the means): {shown}; it rises as the data shrink, but "
                f"{name} is worse than {against} at {', '.join(worse)}."]
    return [f"{name} FID gain over {against} (of the means): {shown}; the gain "
            f"{'grows' if grows else 'does not grow steadily'} as the data shrink."]


if __name__ == "__main__":
    sys.exit(main(make, NAME, __doc__, add_args=add_args))
