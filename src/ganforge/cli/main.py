"""The `ganforge` command: one sub-command per module of this package."""

from __future__ import annotations

import argparse
import errno
import importlib
import sys

# Each module defines register(subparsers) and a run(args) -> int set as the parser's default func.
COMMANDS: tuple[str, ...] = (
    "train",
    "generate",
    "dirac",
    "evaluate",
    "evaluate-sr",
    "compress",
    "report",
    "export",
    "distill",
    "analyze",
    "upscale",
    "import",
)
# Sub-commands whose module name differs from the command (a keyword or a dash cannot be in a module name).
MODULES: dict[str, str] = {"import": "import_", "evaluate-sr": "evaluate_sr"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ganforge", description="Train, self-distill, compress and evaluate GANs.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"ganforge.cli.{MODULES.get(name, name)}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one sub-command; bad input of any kind ends in one line on stderr and exit code 2, no traceback."""
    from ganforge.errors import UserError
    from ganforge.training.guard import TrainingDiverged

    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return int(args.func(args) or 0)
    except (UserError, TrainingDiverged) as e:
        message = str(e)
    except OSError as e:  # missing file, disk full, permissions, a file where a folder should be, ...
        message = os_error_message(e) if e.errno is not None else str(e)  # errno None: our own message
    except MemoryError:
        message = "out of memory; use a smaller batch_size, data_size, --resolution or --num"
    print(f"ganforge {args.command}: error: {message}", file=sys.stderr)
    return 2


def os_error_message(e: OSError) -> str:
    """One line naming the file and what to do, for the operating-system errors a user can fix."""
    where = f"{e.filename}: " if e.filename else ""
    fixes = {errno.ENOSPC: "free disk space or write elsewhere", errno.EDQUOT: "free disk space or write elsewhere",
             errno.EACCES: "check the permissions or choose another path", errno.EPERM: "choose another path",
             errno.EROFS: "the file system is read-only; choose another path",
             errno.EISDIR: "give a file name, not a folder", errno.ENOENT: "check the path",
             errno.ENOTDIR: "a part of the path is a file, not a folder",
             errno.EEXIST: "remove it or choose another path", errno.ENAMETOOLONG: "use a shorter path"}
    return f"{where}{e.strerror or e}; {fixes.get(e.errno, 'check the path and try again')}"


if __name__ == "__main__":
    raise SystemExit(main())
