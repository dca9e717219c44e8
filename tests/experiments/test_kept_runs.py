"""experiments/kept_runs.py: an experiment whose results folder is gone takes the finished runs the results page
kept in the repository, only those made exactly as it would make them, and never evaluates them again."""

from __future__ import annotations

import json
import shlex
import shutil

import common
import data_efficient
import kept_runs
import pytest
from shared_runs import shared_run
from test_shared_runs import COMMON


def run(out, *extra: str, common_args: list[str] = COMMON) -> int:
    argv = ["--out", str(out), *common_args, "--arms", "n100-none", *extra]
    return data_efficient.main(data_efficient.make, data_efficient.NAME, data_efficient.__doc__, argv=argv,
                               add_args=data_efficient.add_args)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """The page's copy of a finished n100-none run's record, its results folder gone."""
    tmp = tmp_path_factory.mktemp("kept")
    assert run(tmp / "first") == 0
    (tmp / "page" / "data_efficient").mkdir(parents=True)
    shutil.copyfile(tmp / "first" / "experiment.json", tmp / "page" / "data_efficient" / "experiment.json")
    shutil.rmtree(tmp / "first")
    return tmp / "page"


@pytest.fixture
def kept(page, monkeypatch):
    monkeypatch.setattr(kept_runs, "KEPT_ROOT", page)
    return json.loads((page / "data_efficient" / "experiment.json").read_text())["runs"]["n100-none/s0"]


def no_training(monkeypatch):
    def fail(argv):
        raise AssertionError(f"trained again: {argv}")

    monkeypatch.setattr(common.load_ttq(), "main", fail)


def test_a_new_folder_takes_the_kept_run_instead_of_training(tmp_path, kept, monkeypatch, capsys):
    no_training(monkeypatch)
    capsys.readouterr()
    assert run(tmp_path / "second", "--dry-run") == 0  # a dry run lists it as taken and writes nothing
    assert "[n100-none/s0] finished earlier, taken from the record" in capsys.readouterr().out
    assert not (tmp_path / "second" / "experiment.json").exists()
    assert run(tmp_path / "second") == 0
    assert "[n100-none/s0] finished earlier, taken from the record the results page keeps" in capsys.readouterr().out
    rec = common.load_record(tmp_path / "second")["runs"]["n100-none/s0"]
    assert rec["kept"] and rec["final"] == kept["final"] and rec["curve"] == kept["curve"]
    assert rec["system"]["cpu"]["logical_cpus"] >= 1  # the machine that made it, kept beside the run

    assert run(tmp_path / "second", "--redo-post-eval") == 0  # its checkpoint is not here: skipped, not failed
    assert "a kept record: its checkpoint is not here" in capsys.readouterr().out
    assert common.load_record(tmp_path / "second")["runs"]["n100-none/s0"] == rec

    argv = shlex.split(kept["ttq_command"])[2:]  # the same training: only its missing files stop the sharing
    (tmp_path / "data_efficient").mkdir()
    shutil.copyfile(tmp_path / "second" / "experiment.json", tmp_path / "data_efficient" / "experiment.json")
    assert shared_run("data_efficient/n100-none", 0, argv, tmp_path / "pretrained_d") is None


def test_a_run_made_otherwise_is_not_taken(tmp_path, kept, capsys):
    capsys.readouterr()
    other = [a if a != "0.032" else "0.064" for a in COMMON]  # another budget
    assert run(tmp_path / "longer", "--dry-run", common_args=other) == 0
    shown = capsys.readouterr().out
    assert "[n100-none/s0] to run (0.064 kimg)" in shown and "1 run(s) left (1 without a finished run" in shown
    other = [a if a != "64" else "32" for a in COMMON]  # other evaluation sizes: another ttq command
    assert run(tmp_path / "smaller", "--dry-run", common_args=other) == 0
    assert "[n100-none/s0] to run" in capsys.readouterr().out


def test_a_folder_with_its_own_run_keeps_it(tmp_path, kept):
    record = {"experiment": "data_efficient", "runs": {"n100-none/s0": {"status": "stopped", "arm": "n100-none"}}}
    assert kept_runs.adopt_kept(record, "data_efficient", {"n100-none": ({}, 0.032, lambda seed: None)}, tmp_path) == []
    assert record["runs"]["n100-none/s0"]["status"] == "stopped"
    assert kept_runs.adopt_kept({}, "sd_gan", {"n100-none": ({}, 0.032, lambda seed: None)}, tmp_path) == []


def test_arms_naming_files_of_their_own_folder_match_from_another_folder(tmp_path):
    kept = {"experiment": "sr", "command": "python experiments/sr.py --threads 2 --out results/experiments/sr",
            "arms": {"kd": {"overrides": [], "train": None,
                            "compress": ["--teacher", "results/experiments/sr/train/teacher-s0"]}},
            "runs": {"kd/s0": {"arm": "kd", "seed": 0, "status": "done", "post_eval_done": True, "budget": 10.0,
                               "kind": "compress"}}}
    (tmp_path / "page" / "sr").mkdir(parents=True)
    (tmp_path / "page" / "sr" / "experiment.json").write_text(json.dumps(kept))
    out = tmp_path / "elsewhere" / "sr"

    def wanted(teacher: str, budget: float = 10.0) -> dict:
        return {"kd": ({"overrides": [], "compress": ["--teacher", teacher], "train": None}, budget, lambda s: None)}

    page, teacher = tmp_path / "page", str(out / "train" / "teacher-s0")
    assert kept_runs.adopt_kept({}, "sr", wanted(teacher), out, page) == ["kd/s0"]
    assert kept_runs.adopt_kept({}, "sr", wanted(str(tmp_path / "other-teacher")), out, page) == []
    assert kept_runs.adopt_kept({}, "sr", wanted(teacher, 20.0), out, page) == []
