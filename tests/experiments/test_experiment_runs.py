"""experiments/common.py end to end on a tiny experiment (2 seeds, a few training steps each): interrupted in the
second seed, rerun, it skips the finished seed and continues the interrupted one. Plus the claim scripts' arms
(every override is a ganforge config key) and the compression teacher check."""

from __future__ import annotations

import argparse
import json
import shlex

import common
import pytest
from common import Arm, Experiment

from ganforge.training import get_preset
from ganforge.training.overrides import apply_overrides

TINY = ("preset=tiny net.widths=[16,16,16,16] net.cardinalities=[2,2,2,2] net.z_dim=8 net.g_embed_dim=8 "
        "net.pack=1 channels_last=false batch_size=8 schedule.burnin_kimg=0.1")


def test_interrupted_experiment_resumes_and_skips_finished_runs(tmp_path, monkeypatch, capsys):
    ttq = common.load_ttq()
    exp = Experiment("tiny", "digits", [Arm("a", shlex.split(TINY))], unit="kimg", budget=0.064, every=0.032)
    out = tmp_path / "exp"
    argv = ["--out", str(out), "--seeds", "0,1", "--num", "64", "--threads", "1"]
    args = common.parse_args("tiny", argv)
    original, calls = ttq.checkpoint_point, []

    def interrupting(*a, **kw):
        original(*a, **kw)
        calls.append(a[2])  # the point
        if len(calls) == 3:  # seed 1's first point is checkpointed, not yet evaluated
            raise KeyboardInterrupt

    monkeypatch.setattr(ttq, "checkpoint_point", interrupting)
    with pytest.raises(KeyboardInterrupt):
        common.run_experiment(exp, args, argv)
    first = common.load_record(out)
    s0, s1 = first["runs"]["a/s0"], first["runs"]["a/s1"]
    assert s0["status"] == "done" and s0["post_eval_done"] and s1["status"] == "stopped"
    assert [round(p["kimg"], 3) for p in s0["curve"]] == [0.032, 0.064] and s0["kimg"] == pytest.approx(0.064)
    assert s0["final"]["fid@classifier-mnist"] > 0 and (out / s0["grid"]).is_file()
    assert s0["command"] == "python experiments/tiny.py --out " + common.relative(out) + " --arms a --seeds 0"
    assert first["system"]["cpu"]["logical_cpus"] >= 1 and "flags" not in first["system"]["cpu"]
    assert s0["wall_s"] > 0 and s0["sessions"] == 1 and s1["sessions"] == 1
    state = json.loads((out / "ttq" / "runs" / "a-s1" / "ttq_state.json").read_text())
    # stopped between checkpoint and evaluation
    assert state["pending"]["point"] == 0.032 and state["unit"] == "kimg" and not state["evals"]

    monkeypatch.setattr(ttq, "checkpoint_point", original)
    capsys.readouterr()
    assert common.run_experiment(exp, args, argv) == 0
    assert "[a/s0] finished earlier; skipped" in capsys.readouterr().out
    second = common.load_record(out)
    s0b, s1b = second["runs"]["a/s0"], second["runs"]["a/s1"]
    assert s0b == s0  # untouched
    assert s1b["status"] == "done" and s1b["sessions"] == 2 and s1b["wall_s"] > s1["wall_s"]
    assert [round(p["kimg"], 3) for p in s1b["curve"]] == [0.032, 0.064]
    state = json.loads((out / "ttq" / "runs" / "a-s1" / "ttq_state.json").read_text())
    assert state["started"] and state["nimg"] == 64 and state["pending"] is None
    assert second["floor"]["num"] == 64 and second["seeds"] == [0, 1]

    changed = Experiment("tiny", "digits", [Arm("a", [*shlex.split(TINY), "schedule.lr_end=1e-3"])], unit="kimg",
                         budget=0.064, every=0.032)
    capsys.readouterr()
    assert common.main(lambda _: changed, "tiny", "", argv) == 2  # refused, not skipped as finished
    err = capsys.readouterr().err
    assert "holds runs of arm 'a' made with other settings" in err and "use another --out" in err
    assert common.load_record(out) == second


def claim_args(module, **kw) -> argparse.Namespace:
    """The claim script's arguments as its main parses them, with `kw` replacing some."""
    args = common.parse_args(module.NAME, [], getattr(module, "add_args", None))
    return argparse.Namespace(**{**vars(args), **kw})


@pytest.mark.parametrize("name", ["r3gan_ablation", "sd_gan", "data_efficient", "pretrained_d"])
def test_claim_arms_are_valid_ganforge_configs(name):
    module = __import__(name)
    exp = module.make(claim_args(module, out="unused"))
    assert exp.unit == "kimg" and exp.arms and {c.better for c in module.CHECKS} <= {a.name for a in exp.arms}
    for arm in exp.arms:
        items = [o for o in arm.overrides if not o.startswith("preset=")]
        base = next((o.split("=", 1)[1] for o in arm.overrides if o.startswith("preset=")), "tiny")
        apply_overrides(get_preset(base), items)  # raises on an unknown preset or key, or a bad value


def test_compression_refuses_a_teacher_below_900_modes(tmp_path):
    import compression

    teacher = tmp_path / "teacher"
    teacher.mkdir()
    with pytest.raises(SystemExit, match=r"no recorded mode count.*ganforge evaluate"):
        compression.check_teacher(teacher, 900)
    (teacher / "evaluation.json").write_text(json.dumps({"metrics": {"modes": 716.0}}))
    with pytest.raises(SystemExit, match=r"covers 716 modes .*evaluation.json.*fewer than 900"):
        compression.check_teacher(teacher, 900)
    (teacher / "evaluation.json").unlink()
    (teacher / "ttq_state.json").write_text(json.dumps({"evals": [{"metrics": {"modes": 950.0}}]}))
    assert compression.check_teacher(teacher, 900) == 950.0


def test_mean_logit_feeds_whole_packs_and_minibatch_std_groups():
    """The D-overfit ratio's mean logit works for any image count with a PacGAN D whose minibatch-std groups
    inputs (it once failed on 100 training digits: 25 packed inputs, group 4), dropping only the remainder."""
    import dataclasses

    import torch
    from augment_comparison import mean_logit
    from helpers import tiny_net

    from ganforge.networks import make_networks
    from ganforge.networks.layers import MinibatchStd

    torch.manual_seed(0)
    _, D = make_networks(dataclasses.replace(tiny_net(), pack=4, mbstd_group=4))
    assert [m.group for m in D.modules() if isinstance(m, MinibatchStd)] == [4]
    images = torch.randint(0, 256, (101, 1, 32, 32), dtype=torch.uint8)
    whole = mean_logit(D, images[:96], batch=96)
    assert mean_logit(D, images, batch=30) == pytest.approx(whole, rel=1e-5)  # batches of 16; 5 images dropped
    with pytest.raises(ValueError, match="at least 16 images"):
        mean_logit(D, images[:15])
