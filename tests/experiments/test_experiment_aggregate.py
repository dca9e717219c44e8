"""The mean ± std and "within noise" rules of experiments/aggregate.py on hand-made numbers."""

from __future__ import annotations

import math

from aggregate import Stat, compare, describe, direction, mean_std, summarize, verdict


def test_mean_std_is_the_sample_std_and_drops_missing_values():
    s = mean_std([1.0, 2.0, 3.0, None, float("nan")])
    assert (s.mean, s.std, s.n) == (2.0, 1.0, 3)
    assert mean_std([5.0]) == Stat(5.0, 0.0, 1) and mean_std([]).n == 0 and math.isnan(mean_std([]).mean)
    assert Stat(2.0, 1.0, 3).text() == "2 ± 1" and Stat(5.0, 0.0, 1).text() == "5"


def test_summarize_keeps_the_metrics_every_seed_has():
    out = summarize({"a": [{"fid": 1.0, "modes": 10.0}, {"fid": 3.0}], "b": [{"fid": 2.0}]})
    assert set(out["a"]) == {"fid"} and out["a"]["fid"] == Stat(2.0, math.sqrt(2), 2) and out["b"]["fid"].n == 1


def test_within_noise_when_the_gap_is_inside_the_sum_of_the_stds():
    a, b = Stat(10.0, 1.0, 3), Stat(11.5, 1.0, 3)  # |diff| 1.5 < 1 + 1
    assert compare("fid", a, b) == "noise"
    assert verdict("fid", a, b) == "within noise at this scale"
    assert "within noise" in describe("fid", "sd", a, "base", b)


def test_outside_the_spread_the_metric_direction_decides():
    low, high = Stat(10.0, 0.5, 3), Stat(12.0, 0.5, 3)  # |diff| 2 >= 0.5 + 0.5
    assert compare("fid@classifier-mnist", low, high) == "a"  # lower FID is better
    assert compare("modes", low, high) == "b"  # more modes is better
    assert verdict("modes", high, low) == "holds" and verdict("modes", low, high) == "fails"
    assert describe("modes", "rpgan", high, "gan", low).startswith("modes: rpgan is better")
    assert compare("fid", Stat(10.0, 0.5, 3), Stat(11.0, 0.5, 3)) == "a"  # exactly at the edge: differs


def test_undetermined_without_spread_or_direction_and_not_run_without_numbers():
    assert compare("fid", Stat(1.0, 0.0, 1), Stat(5.0, 0.0, 1)) == "undetermined"  # one seed each
    assert compare("d_overfit", Stat(1.0, 0.1, 3), Stat(5.0, 0.1, 3)) == "undetermined"  # no better side
    assert verdict("fid", None, Stat(1.0, 0.1, 3)) == "not run yet"
    assert direction("trajectory") == "min" and direction("kid@vgg16") == "min" and direction("recall") == "max"
