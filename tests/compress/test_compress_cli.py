"""End to end on tiny models: teacher -> `ganforge compress` (every method) -> generate / evaluate / report."""

import json

import pytest
import torch
from helpers import tiny_dataset, tiny_train_config

from ganforge.cli.main import main
from ganforge.compress.config import CompressConfig
from ganforge.compress.runner import CompressRunner
from ganforge.training import Trainer, get_preset
from ganforge.training.checkpoint import list_checkpoints, read_state, read_tensors
from ganforge.training.load import load_generator
from ganforge.training.overrides import ConfigError


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    out = tmp_path_factory.mktemp("teacher") / "run"
    cfg = tiny_train_config(str(out), kimg=0.016)
    cfg.data, cfg.data_size = "digits", 64
    Trainer(cfg).train()
    return out


def common_args(embed: str) -> list[str]:
    return ["--kimg", "0.032", "--batch-size", "8", "sup.lpips=0", f'nickel.embeddings=["{embed}:20"]',
            "nickel.stats_num=16", "nickel.stats_batch_size=8", f"eval_metric=fid@{embed}", "eval_num=16",
            "log_every_kimg=0.008"]


@pytest.mark.parametrize("method", ["sdakd", "nickel-dime", "kd"])
def test_compress_each_method_then_use_the_run_like_any_other(teacher, tmp_path, embed_name, method, capsys):
    out = tmp_path / method
    assert main(["compress", "--teacher", str(teacher), "--method", method, "--fraction", "0.5", "--out", str(out),
                 *common_args(embed_name)]) == 0
    assert "ganforge report" in capsys.readouterr().out
    ckpt = list_checkpoints(out)[-1]
    state = read_state(ckpt)
    assert state["config"]["net"]["widths"] == [8, 8, 8, 8] and state["compress"]["method"] == method
    assert {p.name for p in ckpt.iterdir()} >= {"G.safetensors", "G_ema.safetensors", "D.safetensors", "state.json"}
    assert (out / "best" / "state.json").exists() and (out / "samples").is_dir()
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["stage"] for m in metrics] == (["stage2", "stage3"] if method == "sdakd" else [method])
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert records[0]["event"] == "start" and records[0]["arm"] == method
    records = records[1:]
    assert records[-1]["kimg"] == pytest.approx(0.032)
    key = {"sdakd": "L_MLP", "nickel-dime": "L_NICKEL", "kd": "L1"}[method]
    assert all(r[key] == r[key] for r in records)  # logged and finite

    G = load_generator(out)  # run dir -> latest checkpoint, like any training run
    assert G.widths == [8, 8, 8, 8] and G(torch.randn(2, G.z_dim)).shape == (2, 1, 32, 32)
    best = load_generator(out / "generator.safetensors")  # the selected model
    best_ckpt = read_tensors(out / "best", "G_ema")
    assert all(torch.equal(best.state_dict()[k], v) for k, v in best_ckpt.items())
    assert main(["generate", str(out), "--seeds", "0-3", "--grid", str(tmp_path / "grid.png")]) == 0
    assert (tmp_path / "grid.png").exists()


def test_report_evaluate_and_teacher_stats_on_a_student(teacher, tmp_path, embed_name, capsys):
    stats = tmp_path / "stats.safetensors"
    assert main(["distill", "teacher-stats", str(teacher), "--embed", embed_name, "--num", "16", "--batch-size", "8",
                 "--out", str(stats)]) == 0
    assert "wrote" in capsys.readouterr().out
    cfg = CompressConfig(method="nickel-dime", teacher=str(teacher), fraction=0.25, out=str(tmp_path / "nd"),
                         kimg=0.008, batch_size=8)
    cfg.nickel.embeddings, cfg.nickel.stats_num, cfg.nickel.teacher_stats = [f"{embed_name}:20"], 16, str(stats)
    runner = CompressRunner(cfg)
    assert runner.method.stats_reused  # the precomputed statistics were reused, not recomputed
    student = runner.train()

    report = tmp_path / "report.json"
    assert main(["report", str(teacher), str(student), "--batch-sizes", "1,2", "--repeats", "2", "--warmup", "1",
                 "--threads", "1", "--rounds", "2", "--json", str(report)]) == 0
    text = capsys.readouterr().out
    assert "speed-up@1" in text and "stage0 (4x4)" in text
    rows = json.loads(report.read_text())["rows"]
    assert rows[0]["compression_rate"] == 0.0 and 0 < rows[1]["compression_rate"] < 1
    assert rows[1]["params_ratio"] < 1 and rows[1]["threads"] == 1 and set(rows[1]["speedup"]) == {"1", "2"}

    assert main(["evaluate", str(student), "--data", "digits", "--metrics", f"fid@{embed_name}", "--num", "16",
                 "--num-real", "32", "--no-disk-cache"]) == 0
    assert f"fid@{embed_name}" in capsys.readouterr().out


def test_stage_one_trains_a_teacher_when_none_is_given(tmp_path, embed_name):
    out = tmp_path / "s"
    assert main(["compress", "--method", "kd", "--fraction", "0.125", "--out", str(out), "--data", "digits",
                 "--teacher-kimg", "0.032", "--kimg", "0.008", "--batch-size", "8", "sup.lpips=0",
                 "data_size=64"]) == 0
    assert list_checkpoints(out / "teacher")
    expected = [max(1, round(w * 0.125)) for w in get_preset("tiny").net.widths]  # the teacher is a tiny run
    assert read_state(list_checkpoints(out)[-1])["config"]["net"]["widths"] == expected


def test_bad_configs_fail_with_a_message(teacher, tmp_path, capsys):
    assert main(["compress", "--teacher", str(teacher), "--fraction", "2", "--out", str(tmp_path)]) == 2
    assert "fraction" in capsys.readouterr().err
    assert main(["compress", "--teacher", str(teacher), "--out", str(tmp_path), "sup.lpipz=0"]) == 2
    assert main(["compress", "--teacher", str(tmp_path / "nope"), "--out", str(tmp_path / "x")]) == 2


def test_sdakd_starts_from_random_students_and_teacher_init_is_its_own_arm(teacher, tmp_path):
    from ganforge.compress.student import make_student

    runners = {}
    for init in ("auto", "teacher"):
        cfg = CompressConfig(method="sdakd", teacher=str(teacher), fraction=0.5, out=str(tmp_path / init),
                             kimg=0.008, batch_size=8, init=init, eval_metric="none")
        cfg.sup.lpips = 0.0
        runners[init] = CompressRunner(cfg)
    inherited = make_student(runners["auto"].G_T, 0.5, "teacher").state_dict()
    for init, runner in runners.items():
        same = all(torch.equal(v, inherited[k]) for k, v in runner.G_S.state_dict().items())
        assert same == (init == "teacher")
    assert (runners["auto"].cfg.init, runners["auto"].arm) == ("random", "sdakd")  # SDAKD Sec. 3.3
    assert runners["teacher"].arm == "sdakd+teacher-init"
    run = runners["teacher"].train()
    meta = json.loads((run / "compress.json").read_text())
    assert meta["init"] == "teacher" and meta["eval_metric"] == ""
    assert read_state(list_checkpoints(run)[-1])["arm"] == "sdakd+teacher-init"
    from safetensors import safe_open

    with safe_open(str(run / "generator.safetensors"), framework="pt") as f:
        assert f.metadata()["arm"] == "sdakd+teacher-init"
    start = json.loads((run / "log.jsonl").read_text().splitlines()[0])
    assert start["event"] == "start" and start["arm"] == "sdakd+teacher-init"


def test_model_selection_is_on_when_the_data_suit_the_digit_classifier(teacher, tmp_path):
    from ganforge.compress.selection import AUTO_METRIC, resolve_eval_metric
    from ganforge.data import load_dataset

    mnist = load_dataset("mnist5k")
    assert resolve_eval_metric("auto", mnist)[0] == AUTO_METRIC
    assert resolve_eval_metric("none", mnist)[0] == "" and resolve_eval_metric("", mnist)[0] == ""
    assert resolve_eval_metric("kid", mnist)[0] == "kid"
    for other in (load_dataset("digits"), tiny_dataset(64)):  # sklearn's 8x8 digits upscaled, noise
        metric, why = resolve_eval_metric("auto", other)
        assert metric == "" and "no usable feature extractor" in why
    cfg = CompressConfig(method="kd", teacher=str(teacher), fraction=0.5, out=str(tmp_path / "kd"), kimg=0.008,
                         batch_size=8, eval_metric="nonsense")
    with pytest.raises(ConfigError, match="eval_metric"):
        CompressRunner(cfg)


def test_a_used_out_directory_names_the_flags_compress_has(teacher, tmp_path, capsys):
    out = tmp_path / "used"
    out.mkdir()
    (out / "log.jsonl").write_text("{}\n")
    argv = ["compress", "--teacher", str(teacher), "--method", "kd", "--fraction", "0.5", "--out", str(out),
            "--kimg", "0.008", "--batch-size", "8", "sup.lpips=0", "eval_metric=none"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--overwrite" in err and f"--resume {out}" in err and err.count("\n") == 1
    assert main([*argv, "--overwrite"]) == 0
    assert json.loads((out / "log.jsonl").read_text().splitlines()[0])["event"] == "start"
    assert main(["compress", "--method", "kd", "--out", str(out), "--data", "digits"]) == 2  # stage 1 would reuse it
    assert "--overwrite" in capsys.readouterr().err and not (out / "teacher").exists()


def test_model_selection_does_not_shift_the_training_random_stream(teacher, tmp_path):
    cfg = CompressConfig(method="kd", teacher=str(teacher), fraction=0.5, out=str(tmp_path / "kd"), kimg=0.008,
                         batch_size=8, eval_metric="fid@classifier-mnist", eval_num=16)
    cfg.sup.lpips = 0.0
    runner = CompressRunner(cfg)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    assert runner.evaluate("kd")  # building the classifier initialises a network before loading its weights
    assert torch.equal(torch.get_rng_state(), before)
