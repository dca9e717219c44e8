"""benchmarks/ttq_extrapolate.py: the power-law fit finds a known curve's crossing minute and says "never" when the
curve's asymptote misses the target."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from helpers import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "ttq_extrapolate.py"


@pytest.fixture(scope="module")
def tx():
    return load_script(SCRIPT)


def results(curves: dict[str, list[tuple[float, dict]]], floor: dict | None = None) -> dict:
    return {"floor": {"metrics": floor or {}},
            "configs": {name: {"evals": [{"minutes": m, "metrics": v} for m, v in pts]}
                        for name, pts in curves.items()}}


def test_fit_recovers_a_known_curve_and_its_crossing(tx):
    fid = [(m, {"fid": 0.2 + 3.0 * m ** -1.0}) for m in (5, 10, 15, 20, 25, 30)]  # crosses 0.3 at m = 30
    rows = tx.extrapolate(results({"a": fid[:4]}), tx.Target.parse("fid<=0.3"))
    assert rows[0]["reached"] is None
    assert rows[0]["minutes"] == pytest.approx(30.0, rel=0.02)
    assert rows[0]["y_inf"] == pytest.approx(0.2, abs=0.01)
    measured = tx.extrapolate(results({"a": fid}), tx.Target.parse("fid<=0.31"))  # 0.2 + 3/m: crossed at 27.3
    assert measured[0]["reached"] == 30


def test_floor_multiple_and_a_missed_asymptote(tx):
    modes = [(m, {"modes": 850.0 - 400.0 * m ** -1.0, "fid": 1.0 + 10.0 / m}) for m in (10, 20, 30, 40, 50)]
    res = results({"b": modes}, floor={"fid": 0.5})
    miss = tx.extrapolate(res, tx.Target.parse("modes>=900"))[0]
    assert miss["minutes"] is None and miss["reached"] is None and miss["y_inf"] <= 1000
    rel = tx.extrapolate(res, tx.Target.parse("fid<=3floor"))[0]  # 1.5: 1 + 10/m crosses it at m = 20
    assert rel["target"] == "<= 1.5" and rel["reached"] == 20
    assert "never" in tx.markdown([miss]) and "measured at 20" in tx.markdown([rel])


def test_crossing_minutes_edge_cases(tx):
    assert tx.crossing_minutes(1.0, 4.0, 1.0, 2.0) == pytest.approx(4.0)
    assert math.isinf(tx.crossing_minutes(1.0, 4.0, 1.0, 0.5))  # a falling curve never goes below its asymptote


def test_cli_table_and_bad_input(tx, tmp_path, capsys):
    pts = [(m, {"fid": 0.2 + 3.0 / m}) for m in (5, 10, 15, 20)]
    (tmp_path / "results.json").write_text(json.dumps(results({"a": pts})))
    assert tx.main(["--out", str(tmp_path), "--target", "fid<=0.3"]) == 0
    assert "| a | fid | <= 0.3 |" in capsys.readouterr().out
    assert tx.main(["--out", str(tmp_path), "--target", "fid=0.3"]) == 2
    assert "is not KEY<=VALUE" in capsys.readouterr().err
    assert tx.main(["--out", str(tmp_path / "missing"), "--target", "fid<=0.3"]) == 2
