"""No augmentation vs DiffAugment vs ADA at equal kimg on a small real subset (issue 4), with a plot.

Each method trains the same preset on the same fixed subset (default: 1,000 of the 5,000 mnist5k digits) for
the same number of images, then its EMA generator (never augmented) is evaluated with the evaluation suite:
in-domain FID (`fid@classifier-mnist`) against the full 5,000 digits and against the training subset, rFID
(random Inception features), and the discriminator-overfitting ratio of the slides (002, "Other metrics"):
(E[D_train] - E[D_held-out]) / (E[D_train] - E[D_generated]) on un-augmented images (0 = no overfitting).

    python experiments/augment_comparison.py --out runs/augment_comparison

Results go to <out>/results.json (updated after every method, so an interrupted run continues where it stopped)
and <out>/augment_comparison.png. ADA's adjustment speed is scaled to the short run (--ada-kimg, default
kimg / 2: p can go from 0 to 1 in half the run), since ADA's 500 kimg would barely move p in a few kimg.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

from ganforge.augment import AugmentConfig
from ganforge.data import ImageDataset, load_dataset, to_float
from ganforge.metrics import evaluate_images, generate_images
from ganforge.training import Trainer, get_preset


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/augment_comparison")
    ap.add_argument("--data", default="mnist5k", help="mnist5k (in-domain FID features) or fashion-mnist")
    ap.add_argument("--subset", type=int, default=1000, help="training images (a fixed random subset)")
    ap.add_argument("--methods", default="none,diffaugment,ada")
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--width", type=int, default=None, help="channels of every stage (default: the preset's)")
    ap.add_argument("--cardinality", type=int, default=None, help="groups per stage (default: width * 2 / 16)")
    ap.add_argument("--kimg", type=float, default=6.0)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--policy", default="color,translation,cutout", help="DiffAugment policy")
    ap.add_argument("--ada-preset", default="r3gan", help="ADA pipeline multipliers")
    ap.add_argument("--ada-target", type=float, default=0.6)
    ap.add_argument("--ada-kimg", type=float, default=None, help="ADA speed; default kimg / 2")
    ap.add_argument("--fid-num", type=int, default=5000, help="generated images for the in-domain FID")
    ap.add_argument("--rfid-num", type=int, default=256, help="generated (and real) images for rFID; 0 skips")
    ap.add_argument("--rfid-seeds", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1 is fastest on a busy box)")
    return ap.parse_args(argv)


def split_data(spec: str, subset: int, seed: int) -> tuple[ImageDataset, ImageDataset, ImageDataset]:
    """(full set, training subset, held-out rest): a fixed random split of the whole dataset."""
    full = load_dataset(spec)
    perm = torch.randperm(len(full.images), generator=torch.Generator().manual_seed(seed))
    train_idx, held_idx = perm[:subset].sort().values, perm[subset:].sort().values

    def part(idx: torch.Tensor, tag: str) -> ImageDataset:
        labels = None if full.labels is None else full.labels[idx]
        return ImageDataset(full.images[idx].clone(), labels, full.num_classes, f"{full.name}[{tag}@{seed}]",
                            full.source)

    return full, part(train_idx, f"train{subset}"), part(held_idx, f"heldout{len(held_idx)}")


def augment_config(method: str, args: argparse.Namespace) -> AugmentConfig:
    if method == "none":
        return AugmentConfig()
    if method == "diffaugment":
        return AugmentConfig(kind="diffaugment", policy=args.policy)
    if method == "ada":
        speed = args.ada_kimg if args.ada_kimg is not None else args.kimg / 2
        return AugmentConfig(kind="ada", preset=args.ada_preset, p_mode="adaptive", ada_target=args.ada_target,
                             ada_kimg=speed)
    raise ValueError(f"unknown method '{method}'; choose from none, diffaugment, ada")


@torch.no_grad()
def d_logits(D: torch.nn.Module, images_u8: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """D's logit for each of its inputs, in batches of whole D inputs: a PacGAN D takes net.pack images per input
    and its minibatch-std layer groups inputs, so each batch holds a multiple of both and a leftover remainder is
    dropped. One logit per pack of net.pack consecutive images."""
    from ganforge.networks.layers import MinibatchStd

    groups = [m.group for m in D.modules() if isinstance(m, MinibatchStd)]
    unit = max(1, getattr(D, "pack", 1)) * max([1, *groups])
    n, batch = len(images_u8) - len(images_u8) % unit, max(unit, batch - batch % unit)
    if n == 0:
        raise ValueError(f"D's logits need at least {unit} images (net.pack x net.mbstd_group), got {len(images_u8)}")
    D.eval()
    return torch.cat([D(to_float(images_u8[i:min(i + batch, n)])).float().flatten() for i in range(0, n, batch)])


def per_image_mean(D: torch.nn.Module, scores: torch.Tensor) -> float:
    """The mean of d_logits' scores per image judged: a PacGAN D's pack logit counts once for its net.pack images
    (the unit of the kept D-overfit records)."""
    return float(scores.sum()) / (len(scores) * max(1, getattr(D, "pack", 1)))


def mean_logit(D: torch.nn.Module, images_u8: torch.Tensor, batch: int = 256) -> float:
    """D's mean logit per image (per_image_mean of d_logits)."""
    return per_image_mean(D, d_logits(D, images_u8, batch))


def train_and_evaluate(method: str, args: argparse.Namespace, data: tuple[ImageDataset, ...]) -> dict:
    full, train, held = data
    cfg = get_preset(args.preset)
    cfg.data, cfg.data_size, cfg.seed = args.data, args.subset, args.seed
    cfg.kimg, cfg.batch_size, cfg.out = args.kimg, args.batch, str(Path(args.out) / method)
    cfg.schedule.burnin_kimg = args.kimg / 2  # gamma and EMA half-life reach their targets mid-run
    cfg.log_every_kimg, cfg.snapshot_every_kimg, cfg.grid_size = args.kimg / 40, args.kimg, 64
    cfg.augment = augment_config(method, args)
    if args.width is not None:
        n = len(cfg.net.widths)
        cfg.net.widths = [args.width] * n
        cfg.net.cardinalities = [args.cardinality or max(1, args.width * cfg.net.expansion // 16)] * n
    resume = any(Path(cfg.out).glob("ckpt-*/state.json"))
    t0, c0 = time.time(), time.process_time()
    trainer = Trainer(cfg, dataset=train, resume=resume, overwrite=not resume)
    trainer.train()
    train_sec, train_cpu_sec = time.time() - t0, time.process_time() - c0

    G = trainer.G_ema  # the un-augmented generator users get
    fake = generate_images(G, args.fid_num, seed=args.seed + 1)
    res: dict = {"method": method, "augment": vars(cfg.augment), "train_sec": train_sec, "train_cpu_sec": train_cpu_sec,
                 "kimg": trainer.cur_nimg / 1000, "final_p": trainer.augment.p}
    res["fid_full"] = evaluate_images(full, fake, "fid@classifier-mnist")["fid@classifier-mnist"]
    res["fid_train"] = evaluate_images(train, fake, "fid@classifier-mnist")["fid@classifier-mnist"]
    if args.rfid_num > 0:
        t1 = time.time()
        real = held.images[: args.rfid_num]
        r = evaluate_images(real, fake[: args.rfid_num], "rfid", rfid_seeds=args.rfid_seeds)
        res.update(rfid=r["rfid"], rfid_std=r["rfid_std"], rfid_sec=time.time() - t1)
    d_train, d_held = mean_logit(trainer.D, train.images), mean_logit(trainer.D, held.images[: len(train.images)])
    d_gen = mean_logit(trainer.D, fake[: len(train.images)])
    res.update(d_train=d_train, d_heldout=d_held, d_generated=d_gen,
               d_overfit=(d_train - d_held) / (d_train - d_gen) if d_train != d_gen else float("nan"))
    return res


def read_log(run_dir: Path) -> list[dict]:
    path = run_dir / "log.jsonl"
    if not path.exists():
        return []
    return [r for r in map(json.loads, path.read_text().splitlines()) if "aug_p" in r]


def plot(results: dict[str, dict], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(results)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, key, title in ((axes[0], "fid_full", "in-domain FID (classifier-mnist) vs all"),
                           (axes[1], "rfid", "rFID (random Inception)")):
        vals = [results[m].get(key, float("nan")) for m in methods]
        bars = ax.bar(methods, vals, color=["#888888", "#1f77b4", "#d62728"][: len(methods)])
        ax.bar_label(bars, fmt="%.2f")
        ax.set_title(title)
    ax = axes[2]
    for m in methods:
        log = read_log(out / m)
        kimg = [r["kimg"] for r in log]
        r_t = [float(r["aug_r_t"]) for r in log]
        ax.plot(kimg, r_t, label=f"r_t ({m})", alpha=0.7)
        if m == "ada":
            ax.plot(kimg, [r["aug_p"] for r in log], "k-", lw=2, label="p (ada)")
    ax.axhline(0.6, color="gray", ls=":", lw=1)
    ax.set_xlabel("kimg")
    ax.set_title("ADA p and r_t = E[sign(D(real) - D(fake))]")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / "augment_comparison.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    data = split_data(args.data, args.subset, args.seed)
    for method in args.methods.split(","):
        if method in results:
            print(f"{method}: done before, skipping")
            continue
        results[method] = train_and_evaluate(method, args, data)
        results_path.write_text(json.dumps(results, indent=1))
        print(json.dumps(results[method]))
    png = plot(results, out)
    print(f"{'method':12s} {'FID(all)':>9s} {'FID(train)':>10s} {'rFID':>8s} {'D overfit':>9s} {'p':>6s}")
    for m, r in results.items():
        print(f"{m:12s} {r['fid_full']:9.3f} {r['fid_train']:10.3f} {r.get('rfid', math.nan):8.2f} "
              f"{r['d_overfit']:9.3f} {r['final_p']:6.3f}")
    print(f"wrote {results_path} and {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
