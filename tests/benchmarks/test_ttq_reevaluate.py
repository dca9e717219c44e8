"""benchmarks/ttq_reevaluate.py --ema on a tiny run directory: suffixed results beside the untouched originals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import load_script, tiny_dataset, tiny_train_config

import ganforge
from ganforge.training import Trainer
from ganforge.training.checkpoint import list_checkpoints

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "ttq_reevaluate.py"


@pytest.fixture(scope="module")
def reevaluate():
    return load_script(SCRIPT)


def fake_ttq_run(out: Path) -> dict:
    """A time_to_quality.py output folder: one configuration 'base' trained with an extra EMA h0.5, two recorded
    points on its kept checkpoints and one whose checkpoint was pruned."""
    cfg = tiny_train_config(str(out / "runs" / "base"), kimg=0.016)
    cfg.schedule.ema_extra_kimg = [0.5]
    Trainer(cfg, dataset=tiny_dataset(16)).train()
    kept = [c.name for c in list_checkpoints(out / "runs" / "base")]
    point = {"train_minutes": 0.0, "kimg": 0.0, "s_per_kimg": 1.0, "metrics": {"confident": -1.0}}
    evals = [{**point, "minutes": m, "train_minutes": m, "checkpoint": c}
             for m, c in ((1, kept[0]), (2, "ckpt-pruned"), (3, kept[-1]))]
    results = {"data": "digits", "num": 16, "metrics_spec": "confident",
               "floor": {"num": 16, "metrics": {"confident": 0.9}}, "configs": {"base": {"evals": evals}}}
    (out / "results.json").write_text(json.dumps(results))
    return results


def test_ema_writes_a_suffixed_curve_and_keeps_the_original_files(reevaluate, tmp_path, monkeypatch, capsys):
    out = tmp_path / "ttq"
    original = fake_ttq_run(out)
    before = (out / "results.json").read_bytes()
    asked = []
    load = ganforge.load_generator
    monkeypatch.setattr(ganforge, "load_generator", lambda path, **kw: asked.append(kw["ema"]) or load(path, **kw))

    assert reevaluate.main(["--out", str(out), "--ema", "h0.5", "--eval-batch", "16"]) == 0
    assert (out / "results.json").read_bytes() == before and not (out / "table.md").exists()
    assert asked == ["h0.5", "h0.5"]  # the two kept checkpoints, with that EMA
    results = json.loads((out / "results-ema-h0.5.json").read_text())
    assert list(results["configs"]) == ["base", "base@ema-h0.5"] and results["ema"] == "h0.5"
    assert results["configs"]["base"] == original["configs"]["base"] and results["floor"] == original["floor"]
    evals = results["configs"]["base@ema-h0.5"]["evals"]
    assert [e["minutes"] for e in evals] == [1, 3]
    assert all(0.0 <= e["metrics"]["confident"] <= 1.0 and e["eval_s"] > 0 for e in evals)
    assert "| base@ema-h0.5 |" in (out / "table-ema-h0.5.md").read_text()
    assert (out / "quality-ema-h0.5.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "base@2min" in capsys.readouterr().err  # the pruned point is named

    with pytest.raises(SystemExit, match=r"no kept checkpoint .* has the EMA 'h7' \(they have h0\.5\)"):
        reevaluate.main(["--out", str(out), "--ema", "h7"])
    assert not (out / "results-ema-h7.json").exists()
