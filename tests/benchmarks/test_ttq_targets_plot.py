"""benchmarks/ttq_targets_plot.py: curves divided by the real floor where the target is a floor multiple; a
missing results file is one line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "ttq_targets_plot.py"


@pytest.fixture(scope="module")
def tp():
    return load_script(SCRIPT)


def write(path: Path, key: str, floor: float, pts: list[tuple[float, float]]) -> str:
    evals = [{"train_minutes": m, "metrics": {key: v}} for m, v in pts]
    path.write_text(json.dumps({"floor": {"metrics": {key: floor}}, "configs": {"run": {"evals": evals}}}))
    return str(path)


def test_curves_are_floor_multiples_and_the_figure_is_written(tp, tmp_path):
    mnist = write(tmp_path / "m.json", "fid@classifier-mnist", 0.1, [(5, 1.0), (30, 0.25)])
    stacked = write(tmp_path / "s.json", "modes_kl", 0.05, [(20, 0.9), (120, 0.4)])
    [(name, minutes, values)] = tp.curves([mnist], "fid@classifier-mnist", per_floor=True)
    assert name == "run (other CPU)" and minutes == [5, 30] and values == pytest.approx([10.0, 2.5])
    assert tp.curves([stacked], "modes_kl", per_floor=False)[0][2] == [0.9, 0.4]
    assert tp.curves([stacked], "modes", per_floor=False) == []  # a metric the runs lack: no curve
    out = tmp_path / "t.png"
    assert tp.main(["--out", str(out), "--mnist", mnist, "--stacked", stacked]) == 0
    assert out.stat().st_size > 1000


def test_curves_name_the_cpu_they_were_measured_on(tp, tmp_path):
    """A minute on an AVX-512 CPU trains 2.3-3x the images of one on an AVX2 CPU: each curve says which it is."""
    path = tmp_path / "s.json"
    for cpu, tag in (({"avx2": True, "avx512f": True}, "AVX-512"), ({"avx2": True, "avx512f": False}, "AVX2")):
        write(path, "modes", 1000, [(20, 900)])
        results = json.loads(path.read_text())
        path.write_text(json.dumps({**results, "system": {"cpu": cpu}}))
        assert tp.curves([str(path)], "modes", per_floor=False)[0][0] == f"run ({tag})"
    results = json.loads(path.read_text())
    results["configs"]["run"]["config"] = {"seed": 1}
    path.write_text(json.dumps(results))
    assert tp.curves([str(path)], "modes", per_floor=False)[0][0] == "run, seed 1 (AVX2)"


def test_missing_inputs_are_one_line(tp, tmp_path, capsys):
    assert tp.main(["--out", str(tmp_path / "t.png"), "--mnist", str(tmp_path / "nope.json")]) == 2
    assert tp.main(["--out", str(tmp_path / "t.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "nope.json" in err[0] and not (tmp_path / "t.png").exists()
