"""The `ganforge` command: one sub-command per module of this package."""

from __future__ import annotations

import argparse
import importlib
import sys

# Each module defines register(subparsers) and a run(args) -> int set as the parser's default func.
COMMANDS: tuple[str, ...] = (
    "train",
    "generate",
    "dirac",
    "evaluate",
    "compress",
    "report",
    "export",
    "distill",
    "analyze",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ganforge", description="Train, self-distill, compress and evaluate GANs.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"ganforge.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from ganforge.data import DatasetError
    from ganforge.training.checkpoint import CheckpointError
    from ganforge.training.guard import TrainingDiverged
    from ganforge.training.overrides import ConfigError

    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return int(args.func(args) or 0)
    except (DatasetError, ConfigError, CheckpointError, TrainingDiverged, FileNotFoundError) as e:
        print(f"ganforge {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
