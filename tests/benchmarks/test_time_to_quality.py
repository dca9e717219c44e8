"""benchmarks/time_to_quality.py end to end on a tiny configuration: results JSON, real floor, plot, and resuming."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "time_to_quality.py"
TINY = "preset=tiny net.widths=[16,16,16,16] net.cardinalities=[2,2,2,2] batch_size=8 log_every_kimg=0.016"
KEYS = {"fid@classifier-mnist", "kid@classifier-mnist", "precision@classifier-mnist", "recall@classifier-mnist",
        "confident", "confident_classes", "confident_all", "confident_top_class"}


@pytest.fixture(scope="module")
def ttq():
    return load_script(SCRIPT)


def argv(out: Path, minutes: float, lazy: str = "loss.r_every=4") -> list[str]:
    return ["--data", "digits", "--minutes", str(minutes), "--eval-every", "0.025", "--out", str(out), "--num", "64",
            "--threads", "1", "--config", f"base={TINY}", "--config", f"lazy={TINY} {lazy}"]


def test_schedule_has_every_point_and_the_end(ttq):
    assert ttq.schedule(0.05, 0.025) == [0.025, 0.05]
    assert ttq.schedule(0.06, 0.025) == [0.025, 0.05, 0.06]
    assert ttq.schedule(0.01, 0.025) == [0.01]
    assert ttq.parse_configs(['a=preset=tiny x.y="[1, 2]"']) == {"a": ["preset=tiny", "x.y=[1, 2]"]}
    assert ttq.parse_configs(["naive-c0.125-s0=preset=tiny"]) == {"naive-c0.125-s0": ["preset=tiny"]}  # C = 1/8
    with pytest.raises(SystemExit, match="NAME: letters"):
        ttq.parse_configs(["..=preset=tiny"])


def test_runs_evaluates_at_training_minutes_and_resumes(ttq, tmp_path, capsys):
    out = tmp_path / "ttq"
    assert ttq.main(argv(out, 0.05)) == 0
    first = json.loads((out / "results.json").read_text())

    cpu = first["system"]["cpu"]
    assert all(isinstance(cpu[k], bool) for k in ("avx2", "avx512f", "avx512_bf16", "amx")) and "flags" in cpu
    assert first["system"]["torch_threads"] == 1 and "--minutes 0.05" in first["command"]
    assert len(first["sessions"]) == 1 and len(first["sessions"][0]["loadavg_start"]) == 3
    floor = first["floor"]
    assert floor["num"] == 64 and set(floor["metrics"]) >= KEYS and floor["metrics"]["fid@classifier-mnist"] > 0

    for name in ("base", "lazy"):
        state = first["configs"][name]
        assert state["params"]["G"] > 0 and state["params"]["D"] > 0
        assert state["config"]["net"]["widths"] == [16] * 4 and state["config"]["batch_size"] == 8
        evals = state["evals"]
        assert [e["minutes"] for e in evals] == [0.025, 0.05]
        assert evals[0]["train_minutes"] >= 0.025 and evals[1]["train_minutes"] > evals[0]["train_minutes"] >= 0.025
        assert 0 < evals[0]["kimg"] < evals[1]["kimg"] and evals[1]["s_per_kimg"] > 0
        assert set(evals[0]["metrics"]) >= KEYS and len(evals[1]["loadavg"]) == 3
        run = out / "runs" / name
        assert (run / "grid-0.05min.png").is_file() and (run / evals[1]["checkpoint"] / "state.json").is_file()
        logged = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
        assert all(r["sec_per_kimg"] > 0 and "loss_D" in r and "loss_G" in r for r in logged)
        # one record per 16 images (two steps of 8) reached by the last point, whatever the machine's speed
        every = round(evals[1]["kimg"] * 1000) // 16
        assert [r["kimg"] for r in logged] == pytest.approx([0.016 * i for i in range(1, every + 1)])
    assert first["configs"]["lazy"]["config"]["loss"]["r_every"] == 4
    assert (out / "quality.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (out / "table.md").read_text()
    assert "FID/floor" in table and table.count("| base |") == 2 and "| real floor" in table
    assert "FID/floor" in capsys.readouterr().out

    # a run that died after its checkpoint but before the evaluation: the point is evaluated on resume, same values
    state_path = out / "runs" / "base" / "ttq_state.json"
    state = json.loads(state_path.read_text())
    lost = state["evals"].pop()
    state["pending"] = {k: v for k, v in lost.items() if k not in ("metrics", "eval_s")}
    state_path.write_text(json.dumps(state))

    with pytest.raises(SystemExit, match="another --out or configuration name"):
        ttq.main(argv(out, 0.075, lazy="loss.r_every=2"))  # same name, other settings: refused
    assert ttq.main(argv(out, 0.075)) == 0
    second = json.loads((out / "results.json").read_text())
    assert len(second["sessions"]) == 3 and second["floor"] == floor  # the floor is computed once
    for name in ("base", "lazy"):
        before, after = first["configs"][name]["evals"], second["configs"][name]["evals"]
        assert [e["minutes"] for e in after] == [0.025, 0.05, 0.075]
        assert after[0] == before[0]  # kept, not recomputed (same timestamps and timings)
        assert after[2]["kimg"] > after[1]["kimg"] and after[2]["train_minutes"] >= 0.075
        assert after[2]["step"] > after[1]["step"]
    assert second["configs"]["lazy"]["evals"][1] == first["configs"]["lazy"]["evals"][1]
    redone = second["configs"]["base"]["evals"][1]
    assert redone["metrics"] == pytest.approx(lost["metrics"])  # same G_ema, samples and reference
    assert redone["kimg"] == lost["kimg"] and redone["time"] == lost["time"]


def test_a_kimg_budget_stops_every_configuration_at_the_same_images(ttq, tmp_path):
    out = tmp_path / "by-kimg"
    args = ["--data", "digits", "--kimg", "0.048", "--eval-every", "0.024", "--out", str(out), "--num", "64",
            "--threads", "1", "--config", f"base={TINY}"]
    (out / "runs" / "base").mkdir(parents=True)
    (out / "runs" / "base" / ".lock").write_text("1\n")  # a first start killed while setting up leaves its lock
    assert ttq.main(args) == 0
    state = json.loads((out / "results.json").read_text())["configs"]["base"]
    assert state["unit"] == "kimg" and [e["point"] for e in state["evals"]] == [0.024, 0.048]
    assert [e["kimg"] for e in state["evals"]] == [0.024, 0.048]  # batch 8: exactly 3 and 6 steps
    assert (out / "runs" / "base" / "grid-0.048kimg.png").is_file()
    minutes = [a if a != "--kimg" else "--minutes" for a in args]
    with pytest.raises(SystemExit, match="counts its points in kimg"):
        ttq.main(minutes)
