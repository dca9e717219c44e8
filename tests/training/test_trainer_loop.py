"""The one training loop (training.loop.run_stages) on a scripted host: stage ends, cadences, non-finite hand-off;
and the per-step hooks of a staged recipe (training.stages.RecipeSteps): EMA, counters, refused updates."""

import json
import signal
import time

import pytest
import torch
from helpers import tiny_dataset, tiny_train_config
from torch import nn

from ganforge.training import Trainer
from ganforge.training.checkpoint import list_checkpoints, read_state
from ganforge.training.loop import Cadence, run_stages
from ganforge.training.stages import RecipeSteps


class ScriptedHost:
    """Counts images in fixed batches and records every action the loop asks for, with the image count."""

    def __init__(self, batch: int, bad_steps=(), stop_at: int | None = None):
        self.cur_nimg, self.step, self.batch = 0, 0, batch
        self.bad_steps, self.stop_at = set(bad_steps), stop_at
        self.events: list[tuple] = []
        self.logger = self

    def log(self, record: dict) -> None:
        self.events.append(("log", record["stage"], record["kimg"]))

    def begin_stage(self, stage):
        self.events.append(("begin", stage, self.cur_nimg))

    def train_step(self):
        self.step += 1
        self.cur_nimg += self.batch
        return {"nonfinite": "loss_G" if self.step in self.bad_steps else None}

    def should_stop(self):
        return self.stop_at is not None and self.cur_nimg >= self.stop_at

    def handle_nonfinite(self, term):
        self.events.append(("nonfinite", term, self.cur_nimg))

    def log_record(self, stage, sec_per_kimg, terms):
        return {"stage": stage, "kimg": self.cur_nimg / 1000}

    def save_checkpoint(self):
        self.events.append(("ckpt", self.cur_nimg))

    def save_grid(self):
        self.events.append(("grid", self.cur_nimg))

    def evaluate_during(self, stage):
        self.events.append(("eval", stage, self.cur_nimg))

    def end_stage(self, stage):
        self.events.append(("end", stage, self.cur_nimg))


def kinds(host, kind):
    return [e[1:] for e in host.events if e[0] == kind]


def test_stages_run_in_order_each_ends_logged_and_closed_even_when_empty():
    host = ScriptedHost(batch=8)
    last = run_stages(host, [("a", 0.024), ("empty", 0), ("b", 0.016)], log_every=16, snapshot_every=32,
                      eval_every=16)
    assert last == "b" and host.cur_nimg == 40
    assert kinds(host, "begin") == [("a", 0), ("empty", 24), ("b", 24)]
    assert kinds(host, "end") == [("a", 24), ("empty", 24), ("b", 40)]
    # 16 by the cadence, 24 closes stage a, then back on the 16-image grid (32), and 40 closes b
    assert kinds(host, "log") == [("a", 0.016), ("a", 0.024), ("b", 0.032), ("b", 0.04)]
    assert kinds(host, "ckpt") == [(32,)] and kinds(host, "grid") == [(32,)]
    assert kinds(host, "eval") == [("a", 16), ("b", 32)]  # never on a stage's last step: end_stage evaluates


def test_zero_cadence_is_never_and_nonfinite_steps_are_handed_back_unlogged():
    host = ScriptedHost(batch=4, bad_steps={2})
    run_stages(host, [("only", 0.012)], log_every=0, snapshot_every=0, eval_every=0)
    assert kinds(host, "nonfinite") == [("loss_G", 8)]
    assert kinds(host, "log") == [("only", 0.012)] and not kinds(host, "ckpt") and not kinds(host, "eval")


def test_a_stop_request_ends_the_loop_before_the_stage_is_closed():
    host = ScriptedHost(batch=4, stop_at=8)
    assert run_stages(host, [("s", 1.0), ("t", 1.0)], 100, 100, 100) == "s"
    assert host.cur_nimg == 8 and not kinds(host, "end") and kinds(host, "begin") == [("s", 0)]


def test_cadence_counts_from_its_start_and_realigns_to_that_grid():
    c = Cadence(10, start=3)
    assert not c.due(12) and c.due(13)
    c.realign(27)
    assert c.next == 33
    never = Cadence(0, start=0)
    never.realign(50)
    assert not never.due(10**9)


class ShiftRecipe:
    """Adds 1 to G's weight every step unless told to refuse it (as a non-finite loss would)."""

    def __init__(self, G: nn.Module, refuse: set[int]):
        self.G, self.refuse, self.calls = G, refuse, []

    def stages(self):
        return [("only", 1.0)]

    def modules(self):
        return {}

    def optimizers(self):
        return {}

    def step(self, stage, real, c, z):
        self.calls.append((stage, real.shape, z.shape))
        if len(self.calls) in self.refuse:
            return {"skipped_G": 1.0}
        with torch.no_grad():
            self.G.weight += 1
        return {"skipped_G": 0.0}


class Batches:
    def next(self, device):
        return torch.full((2, 1, 4, 4), 255, dtype=torch.uint8), None


class RecipeRun(RecipeSteps):
    def __init__(self, refuse: set[int], max_skips: int):
        self.G = nn.Linear(1, 1, bias=False).requires_grad_(False)
        self.G.z_dim = 3
        nn.init.zeros_(self.G.weight)
        self.G_ema = nn.Linear(1, 1, bias=False).requires_grad_(False)
        nn.init.zeros_(self.G_ema.weight)
        self.recipe = ShiftRecipe(self.G, refuse)
        self.sampler, self.device = Batches(), torch.device("cpu")
        self.batch_size, self.max_nonfinite_skips = 2, max_skips
        self.cur_nimg, self.step, self.nonfinite = 0, 0, 0

    def ema_halflife(self, cur_nimg):
        return 0.0  # beta 0: G_ema copies G after every applied update


def test_recipe_steps_run_the_stage_keep_ema_after_applied_updates_and_count_refusals():
    run = RecipeRun(refuse={2, 3}, max_skips=2)
    run.begin_stage("stage3")
    for _ in range(4):
        terms = run.train_step()
    assert terms == {"skipped_G": 0.0} and (run.cur_nimg, run.step, run.nonfinite) == (8, 4, 0)
    assert run.recipe.calls[0] == ("stage3", (2, 1, 4, 4), (2, 3))
    assert run.G.weight.item() == 2 and run.G_ema.weight.item() == 2
    record = run.log_record("stage3", 1.5, terms)
    assert list(record) == ["kimg", "step", "stage", "sec_per_kimg", "skipped_G"] and record["kimg"] == 0.008


def test_recipe_steps_raise_after_too_many_consecutive_refused_updates():
    run = RecipeRun(refuse={2, 3, 4}, max_skips=2)
    run.begin_stage("only")
    for _ in range(3):
        run.train_step()
    with pytest.raises(FloatingPointError, match="3 consecutive non-finite steps at 6 images"):
        run.train_step()
    assert run.G_ema.weight.item() == 1  # refused steps never reach the EMA


def test_trainer_stop_request_ends_the_loop_with_a_checkpoint_and_the_resume_hint(tmp_path, capsys):
    run = tmp_path / "run"
    t = Trainer(tiny_train_config(str(run), kimg=1.0), dataset=tiny_dataset(32))
    one_step = t.train_step

    def step_then_signal():
        terms = one_step()
        if t.step == 2:
            t._request_stop(signal.SIGTERM, None)  # as the handler train() installs would
        return terms

    t.train_step = step_then_signal
    t.train()
    assert f"ganforge train --resume {run}" in capsys.readouterr().out
    assert read_state(list_checkpoints(run)[-1])["cur_nimg"] == 16
    kimgs = [r["kimg"] for r in map(json.loads, (run / "log.jsonl").read_text().splitlines()) if "loss_G" in r]
    assert kimgs == [0.008, 0.016]


def test_the_progress_bar_into_a_log_file_is_not_redrawn_every_step(capsys):
    class SlowHost(ScriptedHost):
        def train_step(self):
            time.sleep(0.02)  # 50 steps over a second: a terminal bar would be redrawn about 10 times
            return super().train_step()

    run_stages(SlowHost(batch=8), [("s", 0.4)], 8, 0, 0, progress=True)  # a log line (and new losses) every step
    err = capsys.readouterr().err  # captured: not a terminal, as with `> log 2>&1`
    assert "400/400" in err and err.count("\r") <= 3 and "s_kimg=" in err
