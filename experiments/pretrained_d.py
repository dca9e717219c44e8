"""Discriminators on pretrained networks (slides 002; issue #16): augmentation alone vs one and two vision-aided
discriminators vs a Projected GAN discriminator, with 100, 500 and 1,000 training digits, at equal images seen.

Arms `n<size>-<kind>` (ganforge config keys, every arm on --base with `data_size=<size>`):
- `aug`: augmentation alone, StyleGAN2-ADA-style (ADA on the R3GAN D): data_efficient.py's `ada` arm, whose
  finished runs are taken from its results folder beside this one when they were trained the same way;
- `va1`: `aug` plus one vision-aided D on VGG16 (`d_aux`, MLP heads on its default taps, DiffAugment before the
  backbone, no penalty on the branch, after --va-warmup kimg);
- `va2`: `va1` plus a second vision-aided D on another backbone (AlexNet), as the slides add a second one;
- `projected`: the Projected GAN D (VGG16, random CCM/CSM, hinge loss, no R1/R2, DiffAugment).
The backbones see --va-resolution / --projected-resolution pixels instead of their 224: at 224 one VGG16 branch
makes a step ~240x the tiny step on a 2-core CPU (docs/pretrained_discriminators.md), at 32 about 6x. The frozen
backbones run under BF16 autocast where BF16 is native (--backbone-precision auto; FP32 elsewhere): about 4x. After
training: FID of --fid-num samples against all 5,000 digits and, for the R3GAN-D arms, the D-overfit ratio of the
main D. The curves are drawn against kimg and against training minutes (the time-to-quality view).

Metrics use the MNIST classifier's features, not ImageNet's: a D on ImageNet features is not flattered by them.

Each size trains as long as data_efficient.py's (--size-kimg, the same default), so `aug` can take its runs.

    python experiments/pretrained_d.py                             # 12 arms x seeds 0,1,2
    python experiments/pretrained_d.py --sizes 100 --arms n100-aug,n100-va1 --budget 20 --seeds 0
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from aggregate import Stat
from common import Arm, Check, Experiment, PaperRow, main
from data_efficient import (
    FID_ALL,
    SIZES,
    add_size_args,
    augment_overrides,
    budget_note,
    d_overfit,
    data_size,
    fid_all,
    gain_note,
    size_budgets,
    split,
)
from final_eval import final_generator

NAME = "pretrained_d"
TITLE = "Discriminators on pretrained networks: vision-aided and Projected GAN with few digits"
CLAIM = ("With few training images, adding a vision-aided discriminator (a frozen pretrained network with a "
         "trainable head) to augmentation improves FID, a second one improves it further, and the benefit grows as "
         "the training set shrinks; a Projected GAN discriminator converges faster (slides 002, 'Vision-aided GAN "
         "training', 'Add 2nd Vision-aided discriminator', 'Benefit with varying training samples', 'Faster "
         "Convergence with Projected GANs').")
COMMAND = "python experiments/pretrained_d.py"
SHOWN = [FID_ALL, "fid@classifier-mnist", "d_overfit", "confident"]
CURVES = ["fid@classifier-mnist"]
CURVE_AXES = ("kimg", "train_minutes")
KINDS = {"aug": "augmentation alone (ADA)", "va1": "+ one vision-aided D", "va2": "+ two vision-aided Ds",
         "projected": "Projected GAN D"}
NOTE_NAMES = {"va1": "One vision-aided D", "va2": "Two vision-aided Ds", "projected": "The Projected GAN D"}
FID = FID_ALL  # the name this module's notes and tests use
# the slides (002_193bdac1dd80552d.txt) show these effects as figures only: the paper column is qualitative
PAPER = [PaperRow("n100-va1", "fid_all", "better than StyleGAN2-ADA",
                  "slides: 'Low-shot Generation with 100 samples'"),
         PaperRow("n1000-va2", "fid_all", "better than one vision-aided D",
                  "slides: 'Add 2nd Vision-aided discriminator' (LSUN Cat 1k)"),
         PaperRow("n1000-projected", "fid_all", "lower FID at equal images seen",
                  "slides: 'Faster Convergence with Projected GANs'")]
CHECKS = [*(Check(f"One vision-aided D improves FID (all 5,000) with {n} digits", f"n{n}-va1", f"n{n}-aug", FID)
            for n in SIZES),
          *(Check(f"A second vision-aided D improves FID with {n} digits", f"n{n}-va2", f"n{n}-va1", FID)
            for n in SIZES),
          *(Check(f"The Projected GAN D beats augmentation alone with {n} digits", f"n{n}-projected", f"n{n}-aug",
                  FID) for n in SIZES)]


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="mnist5k")
    p.add_argument("--base", default="preset=tiny", help="overrides every arm starts from")
    add_size_args(p)
    p.add_argument("--ada-kimg", type=float, default=20.0, dest="ada_kimg", help="ADA's p speed (kimg for 0 -> 1)")
    p.add_argument("--va-backbones", default="vgg16,alexnet", dest="va_backbones",
                   help="the two vision-aided backbones (registered names; va1 uses the first)")
    p.add_argument("--va-resolution", type=int, default=32, dest="va_resolution",
                   help="input side of the first vision-aided backbone")
    p.add_argument("--va2-resolution", type=int, default=64, dest="va2_resolution",
                   help="input side of the second backbone; AlexNet's stride-4 stem needs more than 32")
    p.add_argument("--va-warmup", type=float, default=5.0, dest="va_warmup", help="kimg before the branches switch on")
    p.add_argument("--projected-backbone", default="vgg16", dest="projected_backbone")
    p.add_argument("--projected-resolution", type=int, default=32, dest="projected_resolution")
    p.add_argument("--backbone-precision", default="auto", choices=("fp32", "bf16", "auto"), dest="precision",
                   help="the frozen backbones' precision (auto: BF16 autocast where BF16 is native)")
    p.add_argument("--fid-num", type=int, default=5000, dest="fid_num", help="samples for the FID against all data")


def arm_overrides(kind: str, args: argparse.Namespace) -> list[str]:
    """The config overrides of one kind of arm (before the base and the data size)."""
    if kind == "projected":
        return ["d_arch=projected", f"projected.backbone={args.projected_backbone}",
                f"projected.resolution={args.projected_resolution}", f"projected.precision={args.precision}",
                "loss.name=hinge", "loss.r1=false",
                "loss.r2=false", *augment_overrides("diffaugment", args.ada_kimg)]
    first, second = backbones(args)
    entries = [{"backbone": first, "resolution": args.va_resolution, "warmup_kimg": args.va_warmup,
                "precision": args.precision}]
    if kind == "va2":
        entries.append({"backbone": second, "resolution": args.va2_resolution, "warmup_kimg": args.va_warmup,
                        "precision": args.precision})
    aux = [f"d_aux={json.dumps(entries, separators=(',', ':'))}"] if kind != "aug" else []
    return [*augment_overrides("ada", args.ada_kimg), *aux]


def backbones(args: argparse.Namespace) -> tuple[str, str]:
    names = [b.strip() for b in args.va_backbones.split(",") if b.strip()]
    if len(names) != 2:
        raise SystemExit(f"--va-backbones {args.va_backbones!r}: give two registered backbone names, e.g. "
                         "vgg16,alexnet")
    return names[0], names[1]


def label(kind: str, args: argparse.Namespace) -> str:
    first, second = backbones(args)
    names = {"va1": first, "va2": f"{first}, {second}", "projected": args.projected_backbone}.get(kind)
    return f"{KINDS[kind]} ({names})" if names else KINDS[kind]


def make(args: argparse.Namespace) -> Experiment:
    """Sizes x discriminator kinds on the base recipe, equal kimg within a size."""
    base = shlex.split(args.base)
    budgets = size_budgets(args)
    arms = [Arm(f"n{n}-{kind}", [*base, f"data_size={n}", *arm_overrides(kind, args)],
                label=f"{n} digits, {label(kind, args)}", budget=kimg,
                same_as=f"data_efficient/n{n}-ada" if kind == "aug" else None)
            for n, kimg in budgets.items() for kind in KINDS]
    notes = {"base": args.base, "ada_kimg": args.ada_kimg, "va_backbones": args.va_backbones,
             "projected_backbone": args.projected_backbone, "va_resolution": args.va_resolution,
             "va2_resolution": args.va2_resolution, "va_warmup_kimg": args.va_warmup,
             "projected_resolution": args.projected_resolution, "backbone_precision": args.precision,
             "budget": budget_note(budgets)}
    return Experiment(NAME, args.data, arms, unit="kimg", budget=100.0, every=20.0, post_eval=post_eval, notes=notes)


def post_eval(exp: Experiment, rec: dict, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """FID against all the data; the D-overfit ratio where the main D is an R3GAN D (not the projected one)."""
    if rec["status"] != "done":
        return {}
    full, train, held = split(exp.data, data_size(rec), rec["seed"])
    G = final_generator(rec, out)
    extra = fid_all(G, full, args.fid_num)
    if "d_arch=projected" not in rec["overrides"]:
        extra.update(d_overfit(G, out / rec["checkpoint"], train.images, held))
    return extra


def page_notes(summary: dict[str, dict[str, Stat]]) -> list[str]:
    """Does the gain of each pretrained D over augmentation alone grow as the data shrink (of the means)."""
    return [line for kind in ("va1", "va2", "projected")
            for line in gain_note(summary, kind, "aug", NOTE_NAMES[kind], "augmentation alone")]


if __name__ == "__main__":
    sys.exit(main(make, NAME, __doc__, add_args=add_args))
