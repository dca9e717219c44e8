"""Resuming a GAN compression run (compress.runner): its config, latest checkpoint and teacher, and the checks that
a resumed run continues the same training (same teacher weights, same settings, finished stages unchanged)."""

from __future__ import annotations

import dataclasses
import json
import sys
from itertools import accumulate
from pathlib import Path

from ganforge.compress import config as ccfg
from ganforge.compress.config import CompressConfig
from ganforge.training import checkpoint as ckpt
from ganforge.training.overrides import ConfigError, flat_keys, update_from_dict

# the compress config keys a resumed run may change: its length, device and cadence (out names the run; every
# other key shaped the checkpoints it continues from)
RESUMABLE_KEYS = frozenset({"out", "kimg", "device", "sdakd.stage2_kimg", "sdakd.stage3_kimg", "log_every_kimg",
                            "snapshot_every_kimg", "keep_checkpoints", "eval_every_kimg", "max_nonfinite_skips"})


def resume_config(run_dir: Path) -> CompressConfig:
    """The CompressConfig of the run in run_dir (its compress.json), to resume it with."""
    path = Path(run_dir) / "compress.json"
    try:
        saved = json.loads(path.read_text())
        fields = {f.name for f in dataclasses.fields(CompressConfig)}
        cfg = update_from_dict(CompressConfig(), {k: v for k, v in saved.items() if k in fields})
    except FileNotFoundError:
        raise ConfigError(f"--resume {run_dir}: no compress.json there; is it a compression run directory?") from None
    except (OSError, ValueError, AttributeError) as e:  # unreadable JSON, or values the config refuses
        raise ConfigError(f"{path}: not a usable compression config ({e}); the run cannot be resumed") from None
    cfg.out = str(run_dir)
    return cfg


def latest_checkpoint(run_dir: Path) -> tuple[Path, dict]:
    """The newest complete ckpt-* of a run and its state.json (best/ is never resumed from)."""
    try:
        path, note = ckpt.newest_complete(run_dir)
    except ckpt.CheckpointError:
        raise ckpt.CheckpointError(f"--resume {run_dir}: no complete checkpoint (ckpt-*) there, so nothing to "
                                   "continue; start the run again with --overwrite, or choose another --out") from None
    if note:
        print(f"ganforge: {note}", file=sys.stderr)
    return path, ckpt.read_state(path)


def resumed_teacher(run_dir: Path, state: dict) -> str:
    """The teacher checkpoint a run distils, as its checkpoints record it; gone is one line saying so."""
    path = (state.get("teacher") or {}).get("checkpoint")
    if not path or not Path(path).is_dir():
        raise ckpt.CheckpointError(f"--resume {run_dir}: its teacher checkpoint {path} is gone (moved, pruned or "
                                   "deleted); put it back, or start a new run with --overwrite")
    return path


def check_same_teacher(run_dir: Path, state: dict, path: Path, digest: str) -> None:
    """A run continues only with the teacher it started with (the digest of G_T's weights)."""
    if state["teacher"].get("digest") != digest:
        raise ckpt.CheckpointError(f"--resume {run_dir}: the teacher {path} has changed since this run started (its "
                                   f"weights' digest is {digest}, the run's {state['teacher'].get('digest')}); "
                                   "restore that teacher, or start a new run with --overwrite")


def check_resumable(run_dir: Path, cfg: CompressConfig, saved: dict) -> None:
    """A resumed run keeps every setting its checkpoints were trained with; only RESUMABLE_KEYS may change."""
    now, before = _flat(ccfg.to_dict(cfg)), _flat(saved)
    changed = [k for k in flat_keys(cfg) if k not in RESUMABLE_KEYS and k in before and before[k] != now[k]
               and not (k == "teacher" and not now[k])]
    if changed:
        shown = ", ".join(f"{k} {before[k]!r} -> {now[k]!r}" for k in changed[:3])
        raise ConfigError(f"--resume {run_dir}: {shown}; a resumed run keeps its settings (only kimg, device, "
                          "sdakd.stage*_kimg and the log/snapshot/evaluation cadence may change): drop the change, "
                          "or start a new run with --out")


def _flat(d: dict, prefix: str = "") -> dict:
    """A nested dict with dotted keys, as flat_keys names a config's fields."""
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k: v})
    return out


def check_stages(saved: list, now: list[tuple[str, float]], closed: list[str], cur_nimg: int) -> list[str]:
    """The closed stages of a resumed run under its (maybe longer) stage plan. A closed stage keeps its end, except
    that the final stage of a finished run may grow: it reopens, and closes (selects) again at its new end."""
    ends = {name: end for (name, _), end in zip(saved, accumulate(int(k * 1000) for _, k in saved))}
    new = {name: end for (name, _), end in zip(now, accumulate(int(k * 1000) for _, k in now))}
    last = now[-1][0] if now else ""
    for name in closed:
        if name == last:
            return [n for n in closed if n != name] if new[name] > cur_nimg else closed
        if new.get(name) != ends.get(name):
            raise ConfigError(f"--resume: stage {name} ended at {ends.get(name, 0) / 1000:g} kimg in this run and "
                              f"would end at {new.get(name, 0) / 1000:g} kimg now; keep the finished stages' lengths "
                              "(e.g. sdakd.stage2_kimg) and lengthen the last one (--kimg, sdakd.stage3_kimg)")
    return closed


__all__ = ["RESUMABLE_KEYS", "check_resumable", "check_same_teacher", "check_stages", "latest_checkpoint",
           "resume_config", "resumed_teacher"]
