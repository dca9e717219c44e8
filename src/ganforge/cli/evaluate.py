"""`ganforge evaluate`: metrics of a generator (or of an image folder) against a reference set."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ganforge.cli.args import non_negative_int, positive_int
from ganforge.errors import UserError
from ganforge.metrics.cache import save_stats_npz
from ganforge.metrics.evaluate import (
    METRICS,
    EvalOptions,
    evaluate_generator,
    evaluate_images,
    reference_stats,
)
from ganforge.metrics.features.inception import RESIZE_MODES, InceptionWeightsError
from ganforge.metrics.images import load_image_set


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="FID, KID, rFID, precision/recall, density/coverage, Stacked-MNIST modes",
                       description="Evaluate a checkpoint (CHECKPOINT --data DATA) or two image sets "
                                   "(--real DATA --fake DIR). Writes a table to stdout and optionally JSON.")
    p.add_argument("checkpoint", nargs="?", help="run directory, checkpoint directory, generator .safetensors or "
                                                 "official snapshot .pkl (imported on the fly)")
    p.add_argument("--data", "--real", dest="real", required=True,
                   help="reference set: dataset name (mnist5k, stacked-mnist, ...), image folder, zip, or a "
                        "mu/sigma .npz (fid only)")
    p.add_argument("--fake", help="folder of generated images (instead of CHECKPOINT)")
    p.add_argument("--metrics", default="fid", help=f"comma list of {','.join(METRICS)}; metric@extractor "
                                                    "picks another feature network (e.g. fid@classifier-mnist)")
    p.add_argument("--num", type=positive_int, default=10_000, help="generated images (exact count)")
    p.add_argument("--num-real", type=positive_int, help="reference images (default: all; a fixed subset otherwise)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the generated latents/labels")
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--features", default="inception", help="extractor for fid/kid/pr/dc (default inception)")
    p.add_argument("--weights", help="weights file for --features (Inception: pt_inception-2015-12-05-*.pth)")
    p.add_argument("--allow-download", action="store_true", help="let the Inception weights be downloaded")
    p.add_argument("--resize", default="tf1", choices=RESIZE_MODES, help="Inception 299x299 resize flavour")
    p.add_argument("--size", type=positive_int, help="input size for vgg16/alexnet (default 224)")
    p.add_argument("--rfid-seeds", type=positive_int, default=5)
    p.add_argument("--kid-subsets", type=positive_int, default=100)
    p.add_argument("--kid-subset-size", type=positive_int, default=1000)
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--device", default="cpu")
    p.add_argument("--cache-dir", help="reference feature cache (default $GANFORGE_CACHE_DIR or "
                                       "~/.cache/ganforge/metrics)")
    p.add_argument("--no-disk-cache", action="store_true", help="keep reference features in memory only")
    p.add_argument("--save-stats", help="write the reference set's mu/sigma (pytorch-fid .npz layout) here")
    p.add_argument("--progress", action="store_true", help="progress bars on stderr")
    p.set_defaults(func=run)


def _options(args: argparse.Namespace) -> EvalOptions:
    return EvalOptions(features=args.features, weights=args.weights, allow_download=args.allow_download or None,
                       resize=args.resize, size=args.size, rfid_seeds=args.rfid_seeds, kid_subsets=args.kid_subsets,
                       kid_subset_size=args.kid_subset_size, num_real=args.num_real, batch_size=args.batch_size,
                       device=args.device, cache_dir=args.cache_dir, disk_cache=not args.no_disk_cache,
                       progress=args.progress)


def format_table(results: dict[str, float]) -> str:
    width = max([len(k) for k in results] + [6])
    lines = [f"{'metric':<{width}}  value", f"{'-' * width}  ------------"]
    for key, value in results.items():
        text = f"{int(value)}" if key.split("@")[0] in ("modes", "modes_total") else f"{value:.6g}"
        lines.append(f"{key:<{width}}  {text}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except (InceptionWeightsError, ImportError) as e:  # missing weights / backbone: the message is the fix
        raise UserError(str(e)) from e


def _run(args: argparse.Namespace) -> int:
    opts = _options(args)
    t0 = time.time()
    real = args.real if str(args.real).endswith(".npz") else load_image_set(args.real)
    if args.save_stats:
        stats = reference_stats(real, opts)
        save_stats_npz(args.save_stats, stats)
        print(f"wrote {args.save_stats} (mu/sigma of {stats.count} reference images, {args.features})")
    if args.checkpoint and args.fake:
        raise UserError("give either CHECKPOINT or --fake, not both")
    if not args.checkpoint and not args.fake:
        if args.save_stats:
            return 0
        raise UserError("nothing to evaluate: give a CHECKPOINT or --fake DIR")
    if args.checkpoint:
        from ganforge import load_generator

        G = load_generator(args.checkpoint, device=args.device)
        results = evaluate_generator(G, real, args.metrics, args.num, seed=args.seed, options=opts)
        num = args.num
    else:
        fake = load_image_set(args.fake)
        fake_images = getattr(fake, "images", fake)
        results = evaluate_images(real, fake_images, args.metrics, options=opts)
        num = len(fake_images)
    seconds = time.time() - t0
    print(format_table(results))
    print(f"({num} generated images, {time.strftime('%H:%M:%S', time.gmtime(seconds))} elapsed)", file=sys.stderr)
    if args.json:
        record = {"metrics": results, "checkpoint": args.checkpoint, "fake": args.fake, "real": str(args.real),
                  "num": num, "seed": args.seed, "features": args.features, "resize": args.resize,
                  "seconds": round(seconds, 2)}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n")
    return 0
