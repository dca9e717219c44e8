"""`ganforge export CHECKPOINT`: a generator (teacher or student) as ONNX, TorchScript or a standalone file."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ganforge.compress.export import export_onnx, export_torchscript, max_abs_difference
from ganforge.training.checkpoint import save_generator
from ganforge.training.load import load_generator


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a generator to ONNX / TorchScript / a generator .safetensors",
                       description="Inputs z [N, z_dim] (and labels c [N] int64 when conditional), output images "
                                   "[N, C, H, W] in [-1, 1]; the batch size is dynamic.")
    p.add_argument("checkpoint", help="run directory, checkpoint directory or generator .safetensors")
    p.add_argument("--onnx", help="write an ONNX file here")
    p.add_argument("--torchscript", help="write a TorchScript file here")
    p.add_argument("--generator", help="write a standalone ganforge generator .safetensors here")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--no-check", action="store_true", help="skip running the ONNX file in onnxruntime")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not (args.onnx or args.torchscript or args.generator):
        raise SystemExit("nothing to export: give --onnx, --torchscript and/or --generator")
    G = load_generator(args.checkpoint)
    if args.generator:
        Path(args.generator).parent.mkdir(parents=True, exist_ok=True)
        save_generator(Path(args.generator), G, dataclasses.asdict(G.cfg))
        print(f"wrote {args.generator}")
    if args.onnx:
        export_onnx(G, args.onnx, opset=args.opset)
        msg = f"wrote {args.onnx}"
        if not args.no_check:
            msg += f" (onnxruntime vs PyTorch: max |difference| {max_abs_difference(G, args.onnx):.2e})"
        print(msg)
    if args.torchscript:
        export_torchscript(G, args.torchscript)
        print(f"wrote {args.torchscript}")
    return 0
