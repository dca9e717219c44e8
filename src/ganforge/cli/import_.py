"""`ganforge import`: an official R3GAN, StyleGAN2-ADA or StyleGAN3 snapshot (.pkl) as a ganforge run directory,
without running code from it."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="import an official R3GAN/StyleGAN2-ADA/StyleGAN3 snapshot (.pkl) as a run",
                       description="Read an official network-snapshot .pkl (R3GAN, StyleGAN2-ADA or StyleGAN3) "
                                   "without executing anything from it and write a ganforge run directory that "
                                   "generate, evaluate, train --init-from / --resume, compress --teacher and export "
                                   "accept.")
    p.add_argument("snapshot", metavar="SNAPSHOT.pkl", help="official network-snapshot pickle")
    p.add_argument("out", metavar="OUT_DIR", help="run directory to write (must not exist or be empty)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT_DIR if it is not empty")
    p.set_defaults(func=run)


def describe_net(net: dict) -> str:
    """One line about a stored network config: architecture, image size, widths or StyleGAN channels, classes."""
    from ganforge.networks import NetworkConfig
    from ganforge.training.overrides import update_from_dict

    cfg = update_from_dict(NetworkConfig(), net)
    if cfg.arch == "r3gan":
        shape = f"widths {cfg.widths}"
    else:
        g = cfg.stylegan_configs()[0]
        shape = f"channel_base {g.channel_base}, channel_max {g.channel_max}, z_dim {g.z_dim}, w_dim {g.w_dim}"
    cond = f", {cfg.num_classes} classes" if cfg.num_classes else ""
    return f"{cfg.arch}, {cfg.img_channels}x{cfg.resolution}px, {shape}{cond}"


def run(args: argparse.Namespace) -> int:
    from ganforge.interop.convert import IMPORT_INFO, import_snapshot

    summary: dict = {}
    out = import_snapshot(args.snapshot, args.out, overwrite=args.overwrite, summary=summary)
    print(f"imported {summary['family']} snapshot {args.snapshot} -> {out}\n"
          f"  network:    {describe_net(summary['net'])}; "
          f"G {summary['params']['G']:,} / D {summary['params']['D']:,} parameters\n"
          f"  checkpoint: {summary['checkpoint']} (G, G_ema, D)\n"
          f"  generator:  {out / 'generator.safetensors'}\n"
          f"  config:     {out / 'config.json'}; provenance: {out / IMPORT_INFO}\n"
          f"  sample:     ganforge generate {out} --seeds 0-63 --grid grid.png")
    if summary.get("augment"):
        print(f"  augment:    {summary['augment']}")
    return 0
