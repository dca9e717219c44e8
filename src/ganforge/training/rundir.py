"""Run-directory ownership: one run per directory, locked while a process trains in it, cleared only on request."""

from __future__ import annotations

import os
import shutil
import sys
import weakref
from pathlib import Path

import torch

from ganforge.errors import UserError
from ganforge.training.checkpoint import CheckpointError, recover_checkpoints
from ganforge.training.distributed import DistInfo

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; the emptiness check still protects finished runs
    fcntl = None

LOCK_NAME = ".lock"
# what a run writes besides ckpt-* folders; --overwrite deletes exactly these, never other files
RUN_ARTIFACTS = ("config.json", "log.jsonl", "metrics.jsonl", "metrics.png", "generator.safetensors", "samples",
                 "tensorboard", "best")
# resolved run dir -> [open lock file, number of holders in this process, created by this process]
_HELD: dict[str, list] = {}


class RunDirError(UserError):
    """The run directory is unusable, in use, or holds another run; the message says what to do."""


def _release(key: str) -> None:
    entry = _HELD.get(key)
    if entry is None:
        return
    entry[1] -= 1
    if entry[1] <= 0:
        del _HELD[key]
        entry[0].close()  # closing the descriptor drops the flock
        run_dir = Path(key)
        if entry[2] and run_dir.is_dir() and not run_contents(run_dir):  # a setup that failed before writing
            (run_dir / LOCK_NAME).unlink(missing_ok=True)                 # anything leaves no empty --out behind
            run_dir.rmdir()


class RunLock:
    """An exclusive flock on <run_dir>/.lock, held until release() or until this object is garbage collected.
    Re-entrant within one process (a resumed Trainer in the same process as a finished one); exclusive across."""

    def __init__(self, run_dir: Path, created: bool = False):
        self.key = str(run_dir.resolve())
        if self.key in _HELD:
            _HELD[self.key][1] += 1
        else:
            f = open(run_dir / LOCK_NAME, "a+")  # noqa: SIM115 (kept open while the lock is held)
            if fcntl is not None:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    f.seek(0)
                    pid = f.read().strip() or "?"
                    f.close()
                    raise RunDirError(f"{run_dir} is in use by another training (pid {pid}); wait for it to finish, "
                                      "or choose another --out") from None
            f.truncate(0)
            f.write(f"{os.getpid()}\n")
            f.flush()
            _HELD[self.key] = [f, 1, created]
        self._finalizer = weakref.finalize(self, _release, self.key)

    def release(self) -> None:
        self._finalizer()


def run_contents(run_dir: Path) -> list[str]:
    """Names in the directory apart from the lock file."""
    return sorted(p.name for p in run_dir.iterdir() if p.name != LOCK_NAME)


def clear_run(run_dir: Path) -> list[str]:
    """Delete a previous run's checkpoints (also interrupted .tmp/.old copies) and outputs; other files stay."""
    removed = []
    for p in run_dir.iterdir():
        bare = p.name[1:-4] if p.name.startswith(".") and p.name.endswith((".tmp", ".old")) else p.name
        if bare.startswith("ckpt-") or bare in RUN_ARTIFACTS:
            shutil.rmtree(p) if p.is_dir() else p.unlink()
            removed.append(p.name)
    return removed


def claim_run_dir(run_dir: Path, resume: bool, overwrite: bool) -> RunLock:
    """Create and lock the run directory; a new run refuses a directory that already holds anything unless
    overwrite=True, which deletes the old run's files first (never another process's: the lock comes first)."""
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"--out {run_dir} is a file; give a directory (it is created if missing)")
    if resume and not run_dir.is_dir():
        raise CheckpointError(f"--resume {run_dir}: no such directory, so no complete checkpoint to continue; start "
                              "a new run without --resume, or point at the right run directory")
    created = not run_dir.exists()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunDirError(f"cannot create run directory {run_dir} ({e.strerror or e}); choose another --out") from e
    lock = RunLock(run_dir, created=created)
    contents = run_contents(run_dir)
    if not resume and contents:
        if not overwrite:
            lock.release()
            shown = ", ".join(contents[:4]) + (", ..." if len(contents) > 4 else "")
            raise RunDirError(f"{run_dir} is not empty ({shown}); continue that run with --resume {run_dir}, "
                              "replace it with --overwrite (deletes its checkpoints and logs), or choose another --out")
        clear_run(run_dir)
    return lock


def claim_on_main_rank(run_dir: Path, resume: bool, overwrite: bool, dist: DistInfo,
                       device: torch.device) -> RunLock | None:
    """Rank 0 claims the directory (on resume also putting interrupted checkpoint copies back); every rank learns
    whether that failed, so none waits forever in a later collective."""
    lock, error = None, None
    if dist.is_main:
        try:
            lock = claim_run_dir(run_dir, resume, overwrite)
            if resume:
                for note in recover_checkpoints(run_dir):
                    print(f"ganforge: {note}", file=sys.stderr)
        except UserError as e:
            error = e
    if dist.world_size > 1:
        flag = torch.tensor([float(error is not None)], device=device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        if flag.item() and error is None:
            error = RunDirError(f"rank 0 could not claim the run directory {run_dir}; see its message")
    if error is not None:
        raise error
    return lock
