"""SD-GAN Tables 1 and 3: self-distillation against the baseline at equal images seen, from scratch and as
Sec. 4.1 fine-tuning of a trained model, with trajectory variation (`ganforge analyze trajectory`).

Arms (ganforge config keys): the baseline, and `self_distill=true sd.alpha=1` with `sd.distance` lpips-vgg (the
paper's), l1 and lpips-alex, each from scratch (`scratch-*`, --budget kimg) and fine-tuning --init-from
(`ft-*`, --ft-kimg; G, G_ema and D start from the checkpoint, burn-ins skipped, the architecture taken from the
checkpoint). All checkpoints are kept (`keep_checkpoints=0`): one per evaluation point, which is what the
trajectory analysis reads (20% to 100% of the run). After training: rFID (random Inception features,
--rfid-seeds networks) against the same real half as the FID, and the trajectory variation (--traj-num latents).

    python experiments/sd_gan.py                                   # 8 arms x seeds 0,1,2
    python experiments/sd_gan.py --arms scratch-baseline,scratch-sd-lpips-vgg --budget 20 --seeds 0
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Arm, Check, Experiment, PaperRow, main
from final_eval import final_generator, net_overrides, real_reference

NAME = "sd_gan"
TITLE = "SD-GAN Tables 1 and 3: self-distillation improves FID/rFID and steadies the trajectory"
CLAIM = ("Self-distillation (LPIPS-VGG, alpha = 1) improves FID and rFID over the baseline at equal images seen, "
         "from scratch and as Sec. 4.1 fine-tuning of a trained model, and reduces the trajectory variation "
         "across checkpoints (SD-GAN Tables 1 and 3); L1 and LPIPS-AlexNet arms beside it.")
COMMAND = "python experiments/sd_gan.py"
SHOWN = ["fid@classifier-mnist", "rfid", "trajectory", "confident", "recall@classifier-mnist"]
CURVES = ["fid@classifier-mnist", "confident"]
DISTANCES = {"lpips-vgg": "LPIPS-VGG", "l1": "L1", "lpips-alex": "LPIPS-AlexNet"}
# SD-GAN (000_c51b30951a8385e0.txt): Table 1 (FFHQ 256, StyleGAN2-ADA rows) and Table 3 (FFHQ, StyleGAN2-ADA)
PAPER = [PaperRow("scratch-baseline", "fid", 4.00, "Table 1, FFHQ, StyleGAN2-ADA"),
         PaperRow("scratch-sd-lpips-vgg", "fid", 3.50, "Table 1, FFHQ, StyleGAN2-ADA+SD"),
         PaperRow("scratch-sd-l1", "fid", 3.46, "Table 1, FFHQ, StyleGAN2-ADA+SD_L1"),
         PaperRow("scratch-baseline", "rfid", "1.58 ± 0.11", "Table 1, FFHQ, StyleGAN2-ADA"),
         PaperRow("scratch-sd-lpips-vgg", "rfid", "1.18 ± 0.27", "Table 1, FFHQ, StyleGAN2-ADA+SD"),
         PaperRow("scratch-sd-l1", "rfid", "4.51 ± 0.90", "Table 1, FFHQ, StyleGAN2-ADA+SD_L1"),
         PaperRow("scratch-baseline", "trajectory", "0.375 ± 0.020", "Table 3, FFHQ, StyleGAN2-ADA baseline"),
         PaperRow("scratch-sd-lpips-vgg", "trajectory", "0.295 ± 0.028", "Table 3, FFHQ, StyleGAN2-ADA SD-GAN"),
         PaperRow("ft-sd-lpips-vgg", "fid", "lower than the baseline", "Sec. 4.1 and Fig. 4 (curves only)")]
CHECKS = [Check("SD (LPIPS-VGG) improves FID from scratch", "scratch-sd-lpips-vgg", "scratch-baseline",
                "fid@classifier-mnist"),
          Check("SD (LPIPS-VGG) improves rFID from scratch", "scratch-sd-lpips-vgg", "scratch-baseline", "rfid"),
          Check("SD (LPIPS-VGG) reduces trajectory variation", "scratch-sd-lpips-vgg", "scratch-baseline",
                "trajectory"),
          Check("SD (LPIPS-VGG) improves FID when fine-tuning", "ft-sd-lpips-vgg", "ft-baseline",
                "fid@classifier-mnist"),
          Check("SD (LPIPS-VGG) improves rFID when fine-tuning", "ft-sd-lpips-vgg", "ft-baseline", "rfid"),
          Check("SD (L1) improves FID from scratch", "scratch-sd-l1", "scratch-baseline", "fid@classifier-mnist"),
          Check("SD (LPIPS-AlexNet) improves FID from scratch", "scratch-sd-lpips-alex", "scratch-baseline",
                "fid@classifier-mnist")]


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="mnist5k")
    p.add_argument("--base", default="preset=tiny", help="overrides every from-scratch arm starts from")
    p.add_argument("--init-from", default="models/mnist5k-tiny-30min", dest="init_from",
                   help="trained run the ft-* arms fine-tune (a path relative to where you run the script)")
    p.add_argument("--ft-kimg", type=float, default=40.0, dest="ft_kimg", help="length of the ft-* arms")
    p.add_argument("--rfid-num", type=int, default=1000, dest="rfid_num", help="samples for rFID (0: skip)")
    p.add_argument("--rfid-seeds", type=int, default=5, dest="rfid_seeds")
    p.add_argument("--traj-num", type=int, default=480, dest="traj_num", help="latents (paper: 480; 0: skip)")
    p.add_argument("--traj-distance", default="lpips-vgg", dest="traj_distance")


def sd_overrides(distance: str | None) -> list[str]:
    return [] if distance is None else ["self_distill=true", "sd.alpha=1", f"sd.distance={distance}"]


def make(args: argparse.Namespace) -> Experiment:
    """Baseline + three SD distances, from scratch and fine-tuning; every checkpoint kept for the trajectory."""
    base = [*shlex.split(args.base), "keep_checkpoints=0"]
    variants = {"baseline": ("baseline", None), **{f"sd-{d}": (f"SD {label}", d) for d, label in DISTANCES.items()}}
    arms = [Arm(f"scratch-{k}", [*base, *sd_overrides(d)], label=f"scratch, {label}")
            for k, (label, d) in variants.items()]
    if Path(args.init_from).exists():
        from ganforge.training.finetune import checkpoint_net

        ft_base = ["preset=tiny", *net_overrides(checkpoint_net(args.init_from)), f"init_from={args.init_from}",
                   "keep_checkpoints=0"]
        arms += [Arm(f"ft-{k}", [*ft_base, *sd_overrides(d)], label=f"fine-tune, {label}", budget=args.ft_kimg,
                     every=args.ft_kimg / 10) for k, (label, d) in variants.items()]
    else:
        print(f"--init-from {args.init_from} not found: the ft-* arms are left out", flush=True)
    return Experiment(NAME, args.data, arms, unit="kimg", budget=100.0, every=10.0, post_eval=post_eval,
                      notes={"init_from": args.init_from, "budget": "equal kimg per arm"})


def post_eval(exp: Experiment, rec: dict, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """rFID of the final G_ema against the real half B, and trajectory variation over the kept checkpoints."""
    from ganforge.cli.main import main as ganforge
    from ganforge.metrics import evaluate_images, generate_images

    extra: dict[str, Any] = {}
    if args.rfid_num and rec["status"] == "done":
        _, ref = real_reference(exp.data, args.num)
        fake = generate_images(final_generator(rec, out), args.rfid_num, seed=0)
        r = evaluate_images(ref.images[: args.rfid_num], fake, "rfid", rfid_seeds=args.rfid_seeds)
        extra.update(rfid=r["rfid"], rfid_std=r["rfid_std"])
    if args.traj_num and rec["status"] == "done":
        run_dir = (out / rec["checkpoint"]).parent
        path = run_dir / "trajectory.json"
        code = ganforge(["analyze", "trajectory", str(run_dir), "--num", str(args.traj_num), "--distance",
                         args.traj_distance, "--json", str(path)])
        if code:
            raise RuntimeError(f"ganforge analyze trajectory {run_dir} exited with {code}")
        extra["trajectory"] = json.loads(path.read_text())["mean"]
    return extra


if __name__ == "__main__":
    sys.exit(main(make, NAME, __doc__, add_args=add_args))
