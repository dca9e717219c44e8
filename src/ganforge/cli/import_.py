"""`ganforge import`: an official R3GAN snapshot (.pkl) as a ganforge run directory, without running code from it."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="import an official R3GAN network snapshot (.pkl) as a run directory",
                       description="Read an official network-snapshot .pkl (R3GAN; StyleGAN2-ADA/StyleGAN3 not yet) "
                                   "without executing anything from it and write a ganforge run directory that "
                                   "generate, evaluate, train --init-from, compress --teacher and export accept.")
    p.add_argument("snapshot", metavar="SNAPSHOT.pkl", help="official network-snapshot pickle")
    p.add_argument("out", metavar="OUT_DIR", help="run directory to write (must not exist or be empty)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT_DIR if it is not empty")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ganforge.interop.convert import IMPORT_INFO, import_snapshot

    summary: dict = {}
    out = import_snapshot(args.snapshot, args.out, overwrite=args.overwrite, summary=summary)
    net = summary["net"]
    cond = f", {net['num_classes']} classes" if net["num_classes"] else ""
    print(f"imported {summary['family']} snapshot {args.snapshot} -> {out}\n"
          f"  network:    {net['img_channels']}x{4 * 2 ** (len(net['widths']) - 1)}px, widths {net['widths']}{cond}; "
          f"G {summary['params']['G']:,} / D {summary['params']['D']:,} parameters\n"
          f"  checkpoint: {summary['checkpoint']} (G, G_ema, D)\n"
          f"  generator:  {out / 'generator.safetensors'}\n"
          f"  config:     {out / 'config.json'}; provenance: {out / IMPORT_INFO}\n"
          f"  sample:     ganforge generate {out} --seeds 0-63 --grid grid.png")
    return 0
