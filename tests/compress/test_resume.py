"""`ganforge compress --resume`: an interrupted GAN compression run, resumed from its latest checkpoint, ends with
exactly the weights, optimiser states and model selection of the same run left alone (CPU, one thread)."""

import argparse
import importlib
import json
import shutil
from pathlib import Path

import pytest
import torch
from helpers import tiny_train_config
from safetensors.torch import load_file, save_file

from ganforge.cli.main import main
from ganforge.compress.config import CompressConfig
from ganforge.compress.runner import CompressRunner
from ganforge.compress.student_recipe import StudentRecipe
from ganforge.training import Trainer
from ganforge.training.checkpoint import list_checkpoints, read_state


class Interrupted(Exception):
    """Stands in for a kill right after a checkpoint was written."""


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    """A tiny digits teacher: two steps of 8 images."""
    cfg = tiny_train_config(str(tmp_path_factory.mktemp("teacher") / "run"), kimg=0.016, data="digits", data_size=64)
    return Trainer(cfg).train()


def config(teacher, out, method: str, embed: str, snapshot_every: float = 0.016) -> CompressConfig:
    """6 steps of 8 images; sdakd: stage 2 = steps 1-3, stage 3 = steps 4-6; selection by a tiny FID after each."""
    cfg = CompressConfig(method=method, teacher=str(teacher), fraction=0.5, out=str(out), kimg=0.048, batch_size=8,
                         eval_metric=f"fid@{embed}", eval_num=16, snapshot_every_kimg=snapshot_every,
                         log_every_kimg=0.008, keep_checkpoints=10)
    cfg.sup.lpips = 0.0
    cfg.kd.adv_weight = 0.1  # kd with its critic and second optimiser
    cfg.nickel.embeddings, cfg.nickel.stats_num, cfg.nickel.stats_batch_size = [f"{embed}:20"], 16, 8
    return cfg


def interrupt(cfg: CompressConfig, after: int) -> None:
    """Run cfg and stop it by an exception right after its `after`-th ckpt-* was written."""
    runner = CompressRunner(cfg)
    write, written = runner.save_checkpoint, []

    def save(tag=None):
        path = write(tag)
        written.extend([path] if tag is None else [])
        if len(written) == after:
            raise Interrupted
        return path

    runner.save_checkpoint = save
    with pytest.raises(Interrupted):
        runner.train()
    runner.run_lock.release()


def state(runner: CompressRunner) -> dict[str, torch.Tensor]:
    """Every network and optimiser tensor of a run."""
    out = {f"{n}.{k}": v for n, m in runner._modules().items() for k, v in m.state_dict().items()}
    for n, opt in runner.method.optimizers().items():
        out.update({f"optim_{n}.{i}.{k}": v for i, s in opt.state_dict()["state"].items() for k, v in s.items()})
    return out


def selections(run) -> list[tuple]:
    return [(m["stage"], m["kimg"], m[next(k for k in m if k.startswith("fid"))])
            for m in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())]


_STRAIGHT: dict[str, CompressRunner] = {}


@pytest.fixture
def straight(teacher, tmp_path_factory, embed_name):
    """The uninterrupted run of a method (once per method)."""
    def run(method: str) -> CompressRunner:
        if method not in _STRAIGHT:
            runner = CompressRunner(config(teacher, tmp_path_factory.mktemp(method), method, embed_name))
            runner.train()
            _STRAIGHT[method] = runner
        return _STRAIGHT[method]
    return run


@pytest.mark.parametrize("method, every, after, at", [
    ("kd", 0.016, 1, 16),  # inside the one stage
    ("nickel-dime", 0.016, 1, 16),  # with D_T, its optimiser and the NICKEL projections
    ("sdakd", 0.016, 1, 16),  # inside stage 2
    ("sdakd", 0.024, 1, 24),  # at the end of stage 2, before its model selection ran
    ("sdakd", 0.016, 2, 32),  # inside stage 3: stage 2's selection already ran and is not repeated
], ids=["kd", "nickel-dime", "sdakd-stage2", "sdakd-boundary", "sdakd-stage3"])
def test_a_resumed_run_ends_exactly_as_the_uninterrupted_one(teacher, tmp_path, embed_name, straight, method, every,
                                                             after, at):
    reference = straight(method)
    cfg = config(teacher, tmp_path / "cut", method, embed_name, every)
    interrupt(cfg, after)
    resumed = CompressRunner(config(teacher, tmp_path / "cut", method, embed_name, every), resume=True)
    assert (resumed.cur_nimg, resumed.step) == (at, at // 8)
    assert resumed.sampler.state_dict() == read_state(list_checkpoints(tmp_path / "cut")[-1])["sampler"]
    run = resumed.train()
    ours, theirs = state(resumed), state(reference)
    assert ours.keys() == theirs.keys() and len(ours) > 20
    assert [k for k in ours if not torch.equal(ours[k], theirs[k])] == []
    assert resumed.best == reference.best and resumed.best
    assert selections(run) == selections(reference.run_dir)  # every stage selected once, with the same scores
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["event"] for r in log if "event" in r] == ["start", "resume"]
    assert [r["kimg"] for r in log if "event" not in r][-1] == pytest.approx(0.048)


def test_cli_resume_continues_and_lengthens_a_run(teacher, tmp_path, embed_name, capsys):
    kd, sdakd = tmp_path / "kd", tmp_path / "sdakd"
    interrupt(config(teacher, kd, "kd", embed_name), 1)
    assert main(["compress", "--resume", str(kd)]) == 0
    assert "continuing" in capsys.readouterr().out and read_state(list_checkpoints(kd)[-1])["cur_nimg"] == 48
    assert main(["compress", "--resume", str(kd), "--kimg", "0.064"]) == 0  # a finished run goes on
    assert [s for s, _, _ in selections(kd)] == ["kd", "kd"] and json.loads((kd / "compress.json").read_text())[
        "kimg"] == 0.064
    interrupt(config(teacher, sdakd, "sdakd", embed_name), 2)  # in stage 3: stage 2 ended at 0.024
    assert main(["compress", "--resume", str(sdakd), "--kimg", "0.096"]) == 2
    err = capsys.readouterr().err
    assert "stage2 ended at 0.024 kimg" in err and "0.048" in err and len(err.strip().splitlines()) == 1
    assert main(["compress", "--resume", str(sdakd), "--kimg", "0.096", "sdakd.stage2_kimg=0.024",
                 "sdakd.stage3_kimg=0.072"]) == 0
    assert read_state(list_checkpoints(sdakd)[-1])["cur_nimg"] == 96


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_cli_resume_refusals_are_one_line(teacher, tmp_path, embed_name, capsys):
    fresh = tmp_path / "fresh"
    CompressRunner(config(teacher, fresh, "kd", embed_name)).run_lock.release()  # set up, no checkpoint yet
    assert main(["compress", "--resume", str(fresh)]) == 2
    assert "no complete checkpoint" in one_line(capsys)
    run = tmp_path / "cut"
    interrupt(config(teacher, run, "kd", embed_name), 1)
    for extra, says in ((["--teacher", str(teacher)], "drop --teacher"), (["--overwrite"], "drop --teacher"),
                        (["--method", "sdakd"], "drop --method"), (["sup.l1=2"], "sup.l1 1.0 -> 2.0"),
                        (["--fraction", "0.25"], "drop --fraction")):
        assert main(["compress", "--resume", str(run), *extra]) == 2
        assert says in one_line(capsys)
    assert main(["compress", "--resume", str(teacher)]) == 2
    assert "not a compression run" in one_line(capsys)
    assert main(["compress", "--resume", str(tmp_path / "nowhere")]) == 2
    one_line(capsys)


def test_a_changed_teacher_is_refused(teacher, tmp_path, embed_name, capsys):
    own = tmp_path / "teacher"
    shutil.copytree(teacher, own)
    run = tmp_path / "cut"
    interrupt(config(own, run, "kd", embed_name), 1)
    weights = list_checkpoints(own)[-1] / "G_ema.safetensors"
    tensors = load_file(str(weights))
    tensors = {k: v + 0.01 if v.is_floating_point() else v for k, v in tensors.items()}
    save_file(tensors, str(weights))  # the same size: the checkpoint stays complete
    assert main(["compress", "--resume", str(run)]) == 2
    err = one_line(capsys)
    assert "has changed since this run started" in err and "--overwrite" in err
    shutil.rmtree(list_checkpoints(own)[-1])  # the teacher run moved on and pruned it
    assert main(["compress", "--resume", str(run)]) == 2
    assert "is gone" in one_line(capsys)


def test_experiments_continue_an_interrupted_compression_arm(teacher, tmp_path, embed_name, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "experiments"))
    common = importlib.import_module("common")
    flags = ["--teacher", str(teacher), "--method", "kd", "--fraction", "0.5", "--batch-size", "8", "sup.lpips=0",
             f"eval_metric=fid@{embed_name}", "eval_num=16", "snapshot_every_kimg=0.016"]
    exp = common.Experiment("tiny", "digits", [], unit="kimg", budget=0.048, every=0.048)
    args = argparse.Namespace(budget=None, threads=None)
    write = CompressRunner.save_checkpoint

    def killed(runner, tag=None):
        write(runner, tag)
        raise Interrupted

    monkeypatch.setattr(CompressRunner, "save_checkpoint", killed)
    with pytest.raises(Interrupted):
        common.run_cli_arm(exp, common.Arm("kd", compress=flags), 0, args, tmp_path)
    monkeypatch.setattr(CompressRunner, "save_checkpoint", write)
    run = tmp_path / "compress" / "kd-s0"

    def events() -> list[str]:
        return [r["event"] for r in map(json.loads, (run / "log.jsonl").read_text().splitlines()) if "event" in r]

    rec = common.run_cli_arm(exp, common.Arm("kd", compress=flags), 0, args, tmp_path)
    assert "--resume" in rec["compress_command"] and events() == ["start", "resume"]
    assert read_state(list_checkpoints(run)[-1])["cur_nimg"] == 48
    rec = common.run_cli_arm(exp, common.Arm("kd", compress=[*flags, "sup.l1=2"]), 0, args, tmp_path)
    assert "--overwrite" in rec["compress_command"] and events() == ["start"]  # the arm changed: a new run


def test_the_stylegan2_recipe_keeps_its_path_length_mean_in_checkpoints():
    from test_stylegan_student_recipe import sg2_teacher_config

    recipe = StudentRecipe.for_teacher(sg2_teacher_config(), "teacher", torch.device("cpu"))
    recipe.recipe.path_length.pl_mean.fill_(0.1234567)
    again = StudentRecipe.for_teacher(sg2_teacher_config(), "teacher", torch.device("cpu"))
    again.load_state_dict(json.loads(json.dumps(recipe.state_dict())))  # as state.json carries it
    assert torch.equal(again.recipe.path_length.pl_mean, recipe.recipe.path_length.pl_mean)
    assert StudentRecipe().state_dict() == {}  # R3GAN teachers: nothing to keep
