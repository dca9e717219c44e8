"""`ganforge export CHECKPOINT`: a generator (teacher or student) as ONNX, TorchScript or a standalone file.
StyleGAN2/StyleGAN3 graphs use the stored constant noise and the truncation given by --truncation."""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

from ganforge.cli.args import existing_path, finite_float, int_range, output_file, output_with_suffix
from ganforge.compress.export import export_onnx, export_torchscript, max_abs_difference
from ganforge.errors import UserError
from ganforge.training.checkpoint import save_generator
from ganforge.training.load import load_generator

OPSETS = (7, 20)  # what torch's TorchScript-based ONNX exporter (dynamo=False) writes


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a generator to ONNX / TorchScript / a generator .safetensors",
                       description="Inputs z [N, z_dim] (and labels c [N] int64 when conditional), output images "
                                   "[N, C, H, W] in [-1, 1]; the batch size is dynamic.")
    p.add_argument("checkpoint", type=existing_path,
                   help="run directory, checkpoint directory, generator .safetensors or official snapshot .pkl "
                        "(imported on the fly)")
    p.add_argument("--onnx", type=output_with_suffix(lambda: {".onnx"}, ".onnx"), help="write an ONNX file here")
    p.add_argument("--torchscript", type=output_file, help="write a TorchScript file here")
    p.add_argument("--generator", type=output_with_suffix(lambda: {".safetensors"}, ".safetensors"),
                   help="write a standalone ganforge generator .safetensors here")
    p.add_argument("--opset", type=int_range(*OPSETS), default=17, help=f"ONNX opset, {OPSETS[0]}-{OPSETS[1]}")
    p.add_argument("--truncation", type=finite_float, default=1.0, metavar="PSI",
                   help="StyleGAN2/StyleGAN3: truncation psi built into the ONNX/TorchScript graph (1 = off)")
    p.add_argument("--no-check", action="store_true", help="skip running the ONNX file in onnxruntime")
    p.set_defaults(func=run)


def _write(path: str, write: Callable[[Path], object]) -> None:
    """Write through a hidden temporary file in the same folder and rename it, so a failed export leaves neither
    a partial file nor a temporary one, and an earlier file at `path` stays intact."""
    from torch.onnx.errors import OnnxExporterError

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp{target.suffix}")
    try:
        write(tmp)
        os.replace(tmp, target)
    except (OnnxExporterError, RuntimeError) as e:
        raise UserError(f"cannot export to {path} ({e.__class__.__name__}: {str(e).splitlines()[0]}); try the "
                        f"default --opset 17 or another format") from e
    finally:
        tmp.unlink(missing_ok=True)


def run(args: argparse.Namespace) -> int:
    if not (args.onnx or args.torchscript or args.generator):
        raise UserError("nothing to export; give --onnx FILE, --torchscript FILE and/or --generator FILE")
    outputs = [p for p in (args.onnx, args.torchscript, args.generator) if p]
    if len({Path(p).resolve() for p in outputs}) < len(outputs):
        raise UserError(f"the same file is given for two formats ({', '.join(outputs)}); give each its own name")
    G = load_generator(args.checkpoint)
    arch = getattr(getattr(G, "cfg", None), "arch", "r3gan")
    if arch == "r3gan" and args.truncation != 1:
        raise UserError(f"--truncation {args.truncation:g}: R3GAN generators have no truncation; leave it out")
    if arch != "r3gan":  # sampling settings of the traced graph: stored constant noise, the given truncation
        G.truncation_psi, G.noise_mode = args.truncation, "const"
    if args.generator:
        Path(args.generator).parent.mkdir(parents=True, exist_ok=True)
        save_generator(Path(args.generator), G, dataclasses.asdict(G.cfg))  # itself via a temporary file
        print(f"wrote {args.generator}")
    if args.onnx:
        _write(args.onnx, lambda tmp: export_onnx(G, tmp, opset=args.opset))
        msg = f"wrote {args.onnx}"
        if not args.no_check:
            try:
                msg += f" (onnxruntime vs PyTorch: max |difference| {max_abs_difference(G, args.onnx):.2e})"
            except ImportError:
                msg += " (not checked: onnxruntime is not installed; pip install onnxruntime, or pass --no-check)"
        print(msg)
    if args.torchscript:
        _write(args.torchscript, lambda tmp: export_torchscript(G, tmp))
        print(f"wrote {args.torchscript}")
    return 0
