"""Whether an experiment's `ganforge train` / `ganforge compress` run directory can be continued with --resume, or
must start over because the arm's settings changed since it was started."""

from __future__ import annotations

import json
from pathlib import Path


def resumable(run_dir: Path, command: str, flags: list[str], seed: int) -> bool:
    """A run directory with a checkpoint that `ganforge train --resume` / `ganforge compress --resume` continues; a
    GAN compression run only while its settings are still the arm's (same_compress_run), else it restarts."""
    from ganforge.training.checkpoint import list_checkpoints

    if not run_dir.is_dir() or not list_checkpoints(run_dir):
        return False
    if command == "train":
        return True
    try:
        if json.loads((run_dir / "config.json").read_text()).get("task") == "sr":
            return True
    except (OSError, json.JSONDecodeError):
        return False
    return same_compress_run(run_dir, flags, seed)


def same_compress_run(run_dir: Path, flags: list[str], seed: int) -> bool:
    """Whether the GAN compression run in run_dir was started with the settings these `compress` flags give now
    (its length aside: --resume --kimg sets that)."""
    from ganforge.cli.compress import resolve_config
    from ganforge.cli.main import build_parser
    from ganforge.compress.config import resolved_init
    from ganforge.compress.resume import check_resumable

    try:
        saved = json.loads((run_dir / "compress.json").read_text())
        cfg = resolve_config(build_parser().parse_args(["compress", *flags, "--out", str(run_dir), "--seed",
                                                        str(seed)]))
        cfg.init = resolved_init(cfg)
        if cfg.eval_metric == "auto":  # the runner resolves it from the data; the run recorded its choice
            cfg.eval_metric = saved.get("eval_metric", cfg.eval_metric)
        check_resumable(run_dir, cfg, saved)
    except (OSError, ValueError):  # ganforge's UserError (a refused setting) is a ValueError
        return False
    return True
