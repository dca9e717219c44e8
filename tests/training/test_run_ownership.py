"""A run directory belongs to one run: refusal, overwrite, lock, own-only pruning, and checkpoints that survive a
crash between the two renames of a re-write."""

import fcntl
import gc
import json

import pytest
from helpers import tiny_dataset, tiny_train_config

from ganforge.cli.main import main
from ganforge.training import Trainer, get_preset
from ganforge.training import checkpoint as ckpt
from ganforge.training.config import to_dict
from ganforge.training.rundir import LOCK_NAME, RunDirError, run_contents


def trained(run, kimg=0.016, **kw) -> Trainer:
    t = Trainer(tiny_train_config(str(run), kimg=kimg, **kw), dataset=tiny_dataset(16))
    t.train()
    return t


def test_new_run_refuses_a_directory_with_a_run_and_overwrite_replaces_it(tmp_path):
    run = tmp_path / "r"
    trained(run)
    before = sorted(p.name for p in run.iterdir())
    with pytest.raises(RunDirError, match=r"--resume .*--overwrite"):
        Trainer(tiny_train_config(str(run), kimg=0.008, seed=5), dataset=tiny_dataset(16))
    assert sorted(p.name for p in run.iterdir()) == before  # nothing touched
    (run / "notes.txt").write_text("mine")
    t = Trainer(tiny_train_config(str(run), kimg=0.008, seed=5), dataset=tiny_dataset(16), overwrite=True)
    t.train()
    states = [ckpt.read_state(p) for p in ckpt.list_checkpoints(run)]
    assert states and all(s["run_id"] == t.run_id for s in states)  # only the new run's checkpoints remain
    assert json.loads((run / "config.json").read_text())["seed"] == 5
    assert (run / "notes.txt").read_text() == "mine"  # files that are not the run's stay


def test_cli_refusal_is_one_line_exit_2(tmp_path, capsys):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "ckpt-0000000k000000000").mkdir()
    assert main(["train", "--out", str(tmp_path / "r"), "--data", "digits", "--kimg", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--overwrite" in err
    (tmp_path / "f").write_text("x")
    assert main(["train", "--out", str(tmp_path / "f"), "--data", "digits"]) == 2
    assert "is a file" in capsys.readouterr().err


def test_a_setup_that_fails_removes_only_the_directory_it_created(tmp_path, capsys):
    new, existing = tmp_path / "new" / "r", tmp_path / "existing"
    existing.mkdir()
    for out in (new, existing):
        assert main(["train", "--out", str(out), "--data", str(tmp_path / "missing-data"), "--kimg", "0"]) == 2
        assert "missing-data" in capsys.readouterr().err
    gc.collect()  # the failed Trainer's lock is released when it is collected
    assert not new.exists() and new.parent.is_dir()  # the run dir it made is gone, its parent stays
    assert existing.is_dir() and run_contents(existing) == []  # a directory the user made stays as it was


def test_a_locked_run_directory_is_refused(tmp_path):
    run = tmp_path / "r"
    trained(run, kimg=0.008)
    with open(run / LOCK_NAME, "a+") as other:  # another open file description: conflicts like another process
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(RunDirError, match="in use by another training"):
            Trainer(tiny_train_config(str(run), kimg=0.016), dataset=tiny_dataset(16), resume=True)


def test_pruning_touches_only_the_current_runs_checkpoints(tmp_path):
    for name, run_id in (("ckpt-0000000k000000001", "mine"), ("ckpt-0000000k000000002", "mine"),
                         ("ckpt-0000009k000000009", "theirs"), ("ckpt-0000000k000000003", "mine")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "state.json").write_text(json.dumps({"run_id": run_id}))
    ckpt.prune_checkpoints(tmp_path, 1, "mine")
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["ckpt-0000000k000000003", "ckpt-0000009k000000009"]


class Killed(BaseException):
    """Stands for the process dying: nothing after it runs."""


def crash_on_rename(monkeypatch, nth: int) -> None:
    calls = {"n": 0}
    real = ckpt._rename

    def rename(src, dst):
        calls["n"] += 1
        if calls["n"] == nth:
            raise Killed
        real(src, dst)

    monkeypatch.setattr(ckpt, "_rename", rename)


def test_kill_between_the_two_renames_loses_nothing(tmp_path, monkeypatch, capsys):
    run = tmp_path / "r"
    t = trained(run, kimg=0.016)
    tag = ckpt.list_checkpoints(run)[-1].name
    crash_on_rename(monkeypatch, 2)  # the final save re-writes the same name: old -> .old, then .tmp -> final
    with pytest.raises(Killed):
        t.save_checkpoint()
    monkeypatch.undo()
    assert not (run / tag).exists() and (run / f".{tag}.old").is_dir() and (run / f".{tag}.tmp").is_dir()
    assert ckpt.list_checkpoints(run)[-1].name == f".{tag}.tmp"  # readers already find the complete copy
    del t
    resumed = Trainer(tiny_train_config(str(run), kimg=0.024), dataset=tiny_dataset(16), resume=True)
    assert "recovered checkpoint" in capsys.readouterr().err
    assert (run / tag).is_dir() and not list(run.glob(".ckpt-*"))
    assert resumed.cur_nimg == 16
    resumed.train()
    assert ckpt.read_state(ckpt.list_checkpoints(run)[-1])["cur_nimg"] == 24


def test_best_checkpoint_survives_the_same_kill(tmp_path, monkeypatch):
    t = Trainer(tiny_train_config(str(tmp_path), kimg=0.008), dataset=tiny_dataset(16))
    parts = ({"G": t.G}, {"G": t.opt_G}, {"cur_nimg": 1})
    ckpt.write_checkpoint(tmp_path, "best", *parts)
    crash_on_rename(monkeypatch, 2)
    with pytest.raises(Killed):
        ckpt.write_checkpoint(tmp_path, "best", parts[0], parts[1], {"cur_nimg": 2})
    monkeypatch.undo()
    assert ckpt.recover_checkpoints(tmp_path) == ["recovered checkpoint best from .best.tmp (a write was interrupted)"]
    assert ckpt.read_state(tmp_path / "best")["cur_nimg"] == 2


def test_resume_falls_back_to_newest_complete_checkpoint_and_says_so(tmp_path, capsys):
    run = tmp_path / "r"
    trained(run, kimg=0.016, snapshot_every_kimg=0.008)
    newest = ckpt.list_checkpoints(run)[-1]
    (newest / "G.safetensors").write_bytes(b"cut")  # truncated by a crash or a full disk
    (run / "ckpt-0000000k000000099").mkdir()
    (run / "ckpt-0000000k000000099" / "state.json").write_text("{garbage")
    resumed = Trainer(tiny_train_config(str(run), kimg=0.016), dataset=tiny_dataset(16), resume=True)
    err = capsys.readouterr().err
    assert "skipping incomplete checkpoint" in err and newest.name in err and "state.json" in err
    assert resumed.cur_nimg == 8
    with pytest.raises(ckpt.CheckpointError, match="not readable JSON"):
        ckpt.read_state(run / "ckpt-0000000k000000099")


def test_failed_write_leaves_no_temporary_folder(tmp_path, monkeypatch):
    t = Trainer(tiny_train_config(str(tmp_path), kimg=0.008), dataset=tiny_dataset(16))

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ckpt, "save_file", disk_full)
    with pytest.raises(ckpt.CheckpointError, match=r"No space left.*free disk space"):
        t.save_checkpoint()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".ckpt")] == []


def test_resume_with_another_preset_fails_naming_the_conflict(tmp_path, capsys):
    run = tmp_path / "r"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(to_dict(get_preset("tiny"))))
    assert main(["train", "--resume", str(run), "--preset", "small", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "'tiny' run" in err and "--preset small" in err
    assert main(["train", "--resume", str(run), "--preset", "tiny", "--dry-run"]) == 0
    (run / "config.json").write_text("{not json")
    assert main(["train", "--resume", str(run), "--dry-run"]) == 2
    assert "config.json: not readable JSON" in capsys.readouterr().err
