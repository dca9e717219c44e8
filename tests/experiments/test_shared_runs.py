"""experiments/shared_runs.py: pretrained_d's augmentation-alone arm takes data_efficient's finished ADA run of the
same seed instead of training it again, only when it was trained with the same arguments, and post-evaluates it."""

from __future__ import annotations

import shlex

import common
import data_efficient
import pretrained_d
import pytest
from shared_runs import shared_run, training_args
from test_experiment_runs import TINY

COMMON = ["--data", "digits", "--sizes", "100", "--seeds", "0", "--budget", "0.032", "--every", "0.032", "--num", "64",
          "--fid-num", "64", "--threads", "1", "--base", TINY]


def run(module, out, *extra: str) -> int:
    argv = ["--out", str(out), *COMMON, *extra]
    return module.main(module.make, module.NAME, module.__doc__, argv=argv, add_args=module.add_args)


def test_training_args_leave_out_folder_name_and_threads():
    a = ["--data", "d", "--kimg", "1", "--out", "x/ttq", "--config", "n1-ada-s0=a=1 b=2", "--threads", "2"]
    b = ["--data", "d", "--kimg", "1", "--out", "y/ttq", "--config", "n1-aug-s0=a=1 b=2"]
    assert training_args(a) == training_args(b) == ["--data", "d", "--kimg", "1", "--config", "a=1 b=2"]
    assert training_args(a) != training_args([*b[:3], "2", *b[4:]])


def test_aug_arm_takes_the_data_efficient_run_and_post_evaluates_it(tmp_path, monkeypatch, capsys):
    assert run(data_efficient, tmp_path / "data_efficient", "--arms", "n100-ada") == 0
    source = common.load_record(tmp_path / "data_efficient")["runs"]["n100-ada/s0"]

    def no_training(argv):
        raise AssertionError(f"trained again: {argv}")

    monkeypatch.setattr(common.load_ttq(), "main", no_training)
    capsys.readouterr()
    assert run(pretrained_d, tmp_path / "pretrained_d", "--arms", "n100-aug,n100-va1", "--dry-run") == 0
    shown = capsys.readouterr().out
    assert "[n100-aug/s0] to take from data_efficient/n100-ada/s0" in shown and "[n100-va1/s0] to run" in shown
    assert run(pretrained_d, tmp_path / "pretrained_d", "--arms", "n100-aug") == 0
    assert "data_efficient/n100-ada/s0 finished, its post-evaluation here" in capsys.readouterr().out
    rec = common.load_record(tmp_path / "pretrained_d")["runs"]["n100-aug/s0"]
    assert rec["status"] == "done" and rec["post_eval_done"] and rec["reused_from"] == "data_efficient/n100-ada/s0"
    assert rec["arm"] == "n100-aug" and "--arms n100-aug" in rec["command"]
    assert (tmp_path / "pretrained_d" / rec["grid"]).is_file() and rec["curve"] == source["curve"]
    for key in ("fid_all@classifier-mnist", "d_overfit"):  # pretrained_d's own post-evaluation, same model
        assert rec["final"][key] == pytest.approx(source["final"][key], rel=1e-5)
    assert rec["sessions"] == source["sessions"] + 1 and rec["wall_s"] > source["wall_s"]
    assert rec["train_s"] == source["train_s"]

    argv = shlex.split(source["ttq_command"])[2:]
    assert shared_run("data_efficient/n100-ada", 0, argv, tmp_path / "pretrained_d") is not None
    other = [a.replace("augment.ada_kimg=20", "augment.ada_kimg=10") for a in argv]
    assert other != argv and shared_run("data_efficient/n100-ada", 0, other, tmp_path / "pretrained_d") is None
    assert shared_run("data_efficient/n100-ada", 1, argv, tmp_path / "pretrained_d") is None  # no seed-1 run
    assert shared_run("data_efficient/n100-ada", 0, argv, tmp_path / "elsewhere" / "pretrained_d") is None
