"""experiments/pretrained_d.py (issue #16): its arms are valid ganforge configs with the vision-aided and
projected discriminators where they belong, and two of them train, evaluate and record end to end on a tiny
registered backbone."""

from __future__ import annotations

import json

import common
import pretrained_d
import pytest
import torch
from test_experiment_runs import TINY, claim_args
from torch import nn

from ganforge.networks.backbones import register_backbone
from ganforge.training import get_preset
from ganforge.training.overrides import apply_overrides

BACKBONE = "test-exp-vgg"


def tiny_trunk(weights: str | None = None) -> nn.Sequential:
    """A small VGG-like trunk, the same on every call (as pretrained weights would be)."""
    with torch.random.fork_rng():
        torch.manual_seed(3)
        return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))


def test_arms_add_one_and_two_vision_aided_ds_and_the_projected_d():
    exp = pretrained_d.make(claim_args(pretrained_d, out="unused"))
    arms = {a.name: a for a in exp.arms}
    assert list(arms) == [f"n{n}-{k}" for n in (100, 500, 1000) for k in ("aug", "va1", "va2", "projected")]
    configs = {name: apply_overrides(get_preset("tiny"), [o for o in a.overrides if not o.startswith("preset=")])
               for name, a in arms.items()}
    aug, va1, va2, proj = (configs[f"n500-{k}"] for k in ("aug", "va1", "va2", "projected"))
    assert aug.data_size == 500 and aug.augment.kind == "ada" and not aug.d_aux and aug.d_arch == "r3gan"
    assert [(e.backbone, e.resolution) for e in va1.d_aux] == [("vgg16", 32)] and va1.augment.kind == "ada"
    assert [(e.backbone, e.resolution) for e in va2.d_aux] == [("vgg16", 32), ("alexnet", 64)]
    assert all(e.warmup_kimg == 5.0 and not e.r1 and e.precision == "auto" for e in va2.d_aux)
    assert proj.d_arch == "projected" and proj.projected.resolution == 32 and proj.loss.name == "hinge"
    assert proj.projected.precision == "auto"
    assert not proj.loss.r1 and not proj.loss.r2 and proj.augment.kind == "diffaugment"
    assert "(vgg16, alexnet)" in arms["n100-va2"].label
    with pytest.raises(SystemExit, match="two registered backbone names"):
        pretrained_d.make(claim_args(pretrained_d, out="unused", va_backbones="vgg16"))


def test_vision_aided_and_projected_arms_train_and_record(tmp_path):
    register_backbone(BACKBONE, tiny_trunk, overwrite=True)
    out = tmp_path / "exp"
    argv = ["--out", str(out), "--data", "digits", "--sizes", "100", "--arms", "n100-va2,n100-projected",
            "--seeds", "0", "--budget", "0.032", "--every", "0.032", "--num", "64", "--fid-num", "64",
            "--threads", "1", "--base", f"{TINY} log_every_kimg=0.016", "--va-backbones", f"{BACKBONE},{BACKBONE}",
            "--va-resolution", "16", "--va2-resolution", "32", "--va-warmup", "0", "--projected-backbone", BACKBONE,
            "--projected-resolution", "32"]
    assert pretrained_d.main(pretrained_d.make, pretrained_d.NAME, pretrained_d.__doc__, argv=argv,
                             add_args=pretrained_d.add_args) == 0
    record = common.load_record(out)
    va2, proj = record["runs"]["n100-va2/s0"], record["runs"]["n100-projected/s0"]
    for rec in (va2, proj):
        assert rec["status"] == "done" and rec["post_eval_done"] and rec["final"]["fid_all@classifier-mnist"] > 0
    assert "d_overfit" in va2["final"] and "d_overfit" not in proj["final"]  # the main D of va2 is an R3GAN D
    log = [json.loads(line) for line in (out / "ttq" / "runs" / "n100-va2-s0" / "log.jsonl").read_text().splitlines()]
    assert any("loss_D_aux1" in r for r in log)  # both vision-aided branches trained


def test_page_notes_say_whether_the_gain_grows_as_the_data_shrink():
    from aggregate import Stat

    def fid(v: float) -> dict:
        return {pretrained_d.FID: Stat(v, 0.1, 3)}

    summary = {"n100-aug": fid(10.0), "n100-va1": fid(5.0), "n1000-aug": fid(4.0), "n1000-va1": fid(3.0),
               "n100-projected": fid(9.0), "n1000-projected": fid(2.0)}
    notes = pretrained_d.page_notes(summary)
    assert notes == ["One vision-aided D FID gain over augmentation alone (of the means): 100 digits +50.0%, "
                     "1000 digits +25.0%; the gain grows as the data shrink.",
                     "The Projected GAN D FID gain over augmentation alone (of the means): 100 digits +10.0%, "
                     "1000 digits +50.0%; the gain does not grow steadily as the data shrink."]
