"""experiments/wallclock.py: a killed session's wall time reaches the run record through the file it left."""

from __future__ import annotations

import json
import time

import common
import pytest
from common import Arm, Experiment
from wallclock import WallClock, left_by_killed_session


def test_the_clock_file_follows_the_session_and_goes_when_stopped(tmp_path):
    path = tmp_path / "clock" / "a-s0.json"
    clock = WallClock(path, every=0.01).start()
    assert json.loads(path.read_text())["wall_s"] < 0.05  # written at once
    time.sleep(0.2)
    assert json.loads(path.read_text())["wall_s"] > 0.1
    assert clock.stop() >= 0.2 and not path.exists()


def test_a_left_file_is_read_once(tmp_path):
    path = tmp_path / "a-s0.json"
    assert left_by_killed_session(path) is None
    path.write_text(json.dumps({"wall_s": 1234.5, "pid": 1}))
    assert left_by_killed_session(path) == 1234.5 and not path.exists()
    path.write_text("{")
    assert left_by_killed_session(path) == 0.0  # unreadable: the session still counts, with no time


@pytest.fixture
def quick_runs(monkeypatch):
    """run_one's trainer replaced by one that finishes at once (this tests the bookkeeping, not training)."""
    def run(exp, arm, seed, args, out):
        return {"kind": "ttq", "status": "done", "budget": exp.budget, "final": {}, "train_s": 1.0}

    monkeypatch.setattr(common, "run_ttq_arm", run)


@pytest.mark.parametrize("left", [3600.0, None])
def test_a_killed_sessions_time_is_added_or_marked_missing(tmp_path, quick_runs, left):
    out = tmp_path / "exp"
    exp = Experiment("tiny", "digits", [Arm("a", [])], unit="kimg", budget=1.0, every=1.0)
    argv = ["--out", str(out), "--seeds", "0"]
    # the first session was killed: the record says running, with no wall time of its own
    out.mkdir()
    common.write_json(out / common.RESULTS_FILE, {"experiment": "tiny", "runs": {"a/s0": {"status": "running"}}})
    if left is not None:
        (out / "wallclock").mkdir()
        (out / "wallclock" / "a-s0.json").write_text(json.dumps({"wall_s": left}))
    assert common.run_experiment(exp, common.parse_args("tiny", argv), argv) == 0
    rec = common.load_record(out)["runs"]["a/s0"]
    assert rec["status"] == "done" and rec["sessions"] == 2
    if left is None:
        assert rec["wall_s_incomplete"] and rec["wall_s"] < 60
    else:
        assert 3600 <= rec["wall_s"] < 3660 and "wall_s_incomplete" not in rec
    assert not list((out / "wallclock").glob("*.json"))
