"""Run every claim experiment one after the other, then regenerate docs/results.md. Each script resumes, so
rerunning this command after an interruption (or a machine that stops its jobs) continues where it stopped.

The order: super-resolution first (its claim needs no other experiment), then the R3GAN ablation (seed 0 of every
arm before the other seeds, so a first picture comes early), data-efficient training, SD-GAN, compression, and the
pretrained discriminators last (100 digits first), the most expensive. A script that fails is reported and the next
one still runs.

    python experiments/run_all.py --threads 2
    python experiments/run_all.py --print              # the commands, nothing run
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODELS = HERE.parent / "models"


def commands(out: str, threads: int | None) -> list[list[str]]:
    """Every claim script's command line, in the order they run."""
    steps = [["sr"], ["r3gan_ablation", "--seeds", "0"], ["r3gan_ablation"], ["data_efficient"],
             ["sd_gan", "--init-from", str(MODELS / "mnist5k-tiny-30min")], ["compression"],
             ["pretrained_d", "--sizes", "100"], ["pretrained_d"]]
    extra = ["--threads", str(threads)] if threads else []
    return [[sys.executable, str(HERE / f"{name}.py"), *args, "--out", f"{out}/{name}", *extra]
            for name, *args in steps]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="results/experiments", help="folder of the claims' results folders")
    p.add_argument("--threads", type=int, help="torch intra-op threads of every run")
    p.add_argument("--print", action="store_true", dest="only_print", help="print the commands and stop")
    args = p.parse_args(argv)
    failed = []
    for cmd in commands(args.out, args.threads):
        print(" ".join(cmd[1:]).replace(str(HERE.parent) + "/", ""), flush=True)
        if not args.only_print and subprocess.call(cmd):
            failed.append(Path(cmd[1]).stem)
    if args.only_print:
        return 0
    subprocess.call([sys.executable, str(HERE / "make_results_page.py"), "--results", args.out])
    if failed:
        print(f"failed: {', '.join(failed)} (rerun to continue; their logs are above)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
