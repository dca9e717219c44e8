"""experiments/estimate.py: the time the runs left would take, from finished runs of the same arm on this CPU kind."""

from __future__ import annotations

import pytest
from estimate import arm_wall, left_line, stamp_machine

AVX2 = {"cpu": {"model": "EPYC", "logical_cpus": 2, "avx2": True, "avx512f": False}}
AVX512 = {"cpu": {"model": "EPYC", "logical_cpus": 2, "avx2": True, "avx512f": True}}


def done(arm: str, wall: float, **extra) -> dict:
    return {"arm": arm, "status": "done", "post_eval_done": True, "wall_s": wall, **extra}


def test_only_finished_runs_of_the_arm_on_this_cpu_kind_count():
    record = {"runs": {"a/s0": done("a", 600.0, system=AVX2), "a/s1": done("a", 800.0, system=AVX2),
                       "a/s2": done("a", 150.0, system=AVX512), "b/s0": done("b", 60.0, system=AVX2),
                       "a/s3": {**done("a", 5.0, system=AVX2), "status": "running"},
                       "a/s4": done("a", 1.0, system=AVX2, reused_from="other/a/s4"), "a/s5": done("a", 9.0)}}
    assert arm_wall(record, "a", AVX2) == pytest.approx(700.0)
    assert arm_wall(record, "a", AVX512) == pytest.approx(150.0)
    assert arm_wall(record, "c", AVX2) is None


def test_walls_scale_to_the_budget_left():
    record = {"runs": {"a/s0": done("a", 600.0, system=AVX2, budget=100.0),
                       "a/s1": done("a", 1200.0, system=AVX2, budget=200.0)}}
    assert arm_wall(record, "a", AVX2, 300.0) == pytest.approx(1800.0)
    assert arm_wall(record, "a", AVX2, 100.0) == pytest.approx(600.0)
    assert arm_wall(record, "a", AVX2) == pytest.approx(900.0)


def test_the_line_counts_the_runs_without_an_estimate():
    assert left_line([1800.0, 5400.0, None]) == ("3 run(s) left; about 2.0 h for 2 of them on this CPU (1 without a "
                                                 "finished run of their arm on this CPU to estimate from)")
    assert left_line([3600.0]) == "1 run(s) left; about 1.0 h for 1 of them on this CPU"
    assert left_line([]) == "0 run(s) left"


def test_runs_recorded_without_their_machine_get_the_records():
    record = {"system": AVX512, "runs": {"a/s0": done("a", 150.0), "a/s1": done("a", 600.0, system=AVX2)}}
    stamp_machine(record)
    assert record["runs"]["a/s0"]["system"] == AVX512 and record["runs"]["a/s1"]["system"] == AVX2
