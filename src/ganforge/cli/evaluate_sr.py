"""`ganforge evaluate-sr`: PSNR, SSIM, LPIPS and FID on crops of a super-resolution generator (official Real-ESRGAN
weights, a ganforge SR weights file or run) on fixed (LR, HR) pairs cut from HR images, beside bicubic upsampling of
the same pairs: the floor a network must beat."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch import nn

from ganforge.cli.args import at_most, device, existing_path, non_negative_int, positive_int
from ganforge.errors import UserError
from ganforge.limits import hint, limit
from ganforge.networks.sr.weights import load_sr_generator

MAX_PAIRS = 100_000


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate-sr", help="PSNR / SSIM / LPIPS / FID on crops of an SR generator on HR images",
                       description="Score an SR generator on fixed (LR, HR) pairs cut from HR images, beside "
                                   "bicubic upsampling. Writes a table to stdout and optionally JSON.")
    p.add_argument("weights", type=existing_path, help="generator weights: official .pth (e.g. "
                                                       "RealESRGAN_x4plus.pth), ganforge .safetensors or an SR run")
    p.add_argument("--data", default="photos", help="HR images: a folder or zip, or 'photos' (built-in, default)")
    p.add_argument("--pairs", type=at_most(positive_int, MAX_PAIRS), default=64, help="pairs drawn (default 64)")
    p.add_argument("--crop", type=positive_int, default=128, help="HR side of each pair (a multiple of the scale)")
    p.add_argument("--degradation", choices=("bicubic", "realesrgan"), default="bicubic",
                   help="how the LR inputs are made: bicubic downsampling or Real-ESRGAN's second-order pipeline")
    p.add_argument("--seed", type=non_negative_int, default=2_000_000, help="seed of the crops and degradations")
    p.add_argument("--lpips", choices=("auto", "vgg16", "alexnet", "none"), default="auto",
                   help="LPIPS network (auto: VGG16 when its weights are installed)")
    p.add_argument("--fid-features", default="vgg16",
                   help="extractor of the FID on crops (vgg16 offline, inception, ...), or none")
    p.add_argument("--fid-weights", help="weights file for --fid-features (Inception: pt_inception-2015-12-05-*.pth)")
    p.add_argument("--fid-patch", type=positive_int, default=32, help="HR side of the FID crops")
    p.add_argument("--fid-size", type=positive_int, help="side the extractor sees the crops at (vgg16/alexnet)")
    p.add_argument("--act-type", choices=("relu", "leakyrelu"),
                   help="activation of an SRVGGNetCompact .pth without PReLU weights")
    p.add_argument("--device", type=device, default="cpu", help="cpu, cuda, cuda:N, mps or auto")
    p.add_argument("--json", help="also write the results here")
    p.set_defaults(func=run)


def check_args(args: argparse.Namespace, scale: int) -> None:
    """Sizes that cannot work, and memory beyond the limit, refused before anything is decoded."""
    if args.crop % scale:
        raise UserError(f"--crop {args.crop} is not a multiple of the network's scale {scale}; use "
                        f"{max(scale, args.crop - args.crop % scale)}")
    if args.fid_features != "none" and args.fid_patch > args.crop:
        raise UserError(f"--fid-patch {args.fid_patch} is larger than the pairs (--crop {args.crop}); use at most "
                        f"{args.crop}")
    nbytes = args.pairs * 3 * args.crop**2 * 4 * 4  # float32 HR, output, bicubic and FID crops of each pair
    if nbytes > limit("MAX_SAMPLE_BYTES"):
        raise UserError(f"--pairs {args.pairs} of --crop {args.crop} px need {nbytes / 2**30:.1f} GiB; use fewer "
                        f"or smaller pairs, or {hint('MAX_SAMPLE_BYTES')}")


def score(images: dict[str, torch.Tensor], hr: torch.Tensor, scale: int, dev: torch.device,
          lpips: nn.Module | None, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """{method: {metric: value}}: PSNR / SSIM (Y, `scale` border), LPIPS and FID on crops of each image set."""
    from ganforge.metrics.sr import fid_on_crops
    from ganforge.training.sr_task import sr_scores

    out = {}
    for name, sr in images.items():
        out[name] = sr_scores(sr, hr, scale, dev, lpips)
        if args.fid_features != "none":
            out[name][f"fid_crops@{args.fid_features}"] = fid_on_crops(
                sr, hr, args.fid_patch, args.fid_features, weights=args.fid_weights, size=args.fid_size, device=dev)
    return out


@torch.no_grad()
def run(args: argparse.Namespace) -> int:
    from ganforge.data.degradation import DegradationConfig
    from ganforge.data.sr_pairs import SRPairSampler, load_hr_images
    from ganforge.training.sr_task import (
        bicubic_upscale,
        build_lpips,
        require_fid_extractors,
        require_lpips_weights,
        upscale_in_chunks,
    )
    from ganforge.training.trainer import resolve_device

    t0 = time.time()
    net = load_sr_generator(args.weights, act_type=args.act_type)
    scale = net.cfg.scale
    check_args(args, scale)
    require_lpips_weights("--lpips", args.lpips)
    if args.fid_features != "none":  # a missing extractor or weights file: one line now, not after the upscaling
        require_fid_extractors({args.fid_features}, {args.fid_features: args.fid_weights}, args.fid_size)
    dev = resolve_device(args.device)
    images = load_hr_images(args.data, args.crop)
    lr, hr = SRPairSampler(images, args.crop, scale, args.pairs, args.seed, DegradationConfig(mode=args.degradation),
                           hflip=False).next()
    sr = upscale_in_chunks(net.to(dev).eval(), lr, dev)
    results = score({"model": sr, "bicubic": bicubic_upscale(lr, scale)}, hr, scale, dev, build_lpips(args.lpips),
                    args)
    keys = list(results["model"])
    width = max(len(k) for k in keys)
    print(f"{'metric':<{width}}  {'model':>10}  {'bicubic':>10}")
    for k in keys:
        print(f"{k:<{width}}  {results['model'][k]:>10.4f}  {results['bicubic'][k]:>10.4f}")
    seconds = time.time() - t0
    print(f"({args.pairs} pairs of {args.crop} px, x{scale}, {args.degradation} LR; {seconds:.0f} s)", file=sys.stderr)
    if args.json:
        record = {"results": results, "weights": str(args.weights), "data": str(args.data), "pairs": args.pairs,
                  "crop": args.crop, "scale": scale, "degradation": args.degradation, "seed": args.seed,
                  "lpips": args.lpips, "fid_features": args.fid_features, "fid_patch": args.fid_patch,
                  "seconds": round(seconds, 2)}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n")
    return 0
