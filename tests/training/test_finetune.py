"""Fine-tuning through the Python API behaves like `ganforge train --init-from`: burn-ins skipped, so the first
step blends into the pretrained G_ema instead of overwriting it (training.finetune)."""

import json

import pytest
import torch
from helpers import tiny_dataset, tiny_train_config

from ganforge.cli.main import main
from ganforge.training import Trainer
from ganforge.training.checkpoint import list_checkpoints, read_tensors
from ganforge.training.finetune import overridden_burnin, skip_burnin
from ganforge.training.overrides import ConfigError
from ganforge.training.schedules import ema_beta


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    run = tmp_path_factory.mktemp("finetune") / "src"
    Trainer(tiny_train_config(str(run), kimg=0.016), dataset=tiny_dataset(16)).train()
    return run


def finetune_config(out, source):
    cfg = tiny_train_config(str(out), kimg=0.008, init_from=str(source) if source else None)
    cfg.schedule.burnin_kimg, cfg.schedule.ema_halflife_kimg_start, cfg.schedule.ema_halflife_kimg_end = 5.0, 0.0, 0.5
    cfg.schedule.lr_start, cfg.schedule.lr_end = 1e-3, 2e-4
    cfg.augment.kind, cfg.augment.p_mode, cfg.augment.p, cfg.augment.burnin_kimg = "diffaugment", "cosine", 0.4, 5.0
    return cfg


def test_api_fine_tuning_keeps_the_pretrained_g_ema_and_the_end_of_schedule_values(tmp_path, source):
    loaded = read_tensors(list_checkpoints(source)[-1], "G_ema")
    t = Trainer(finetune_config(tmp_path / "ft", source), dataset=tiny_dataset(16))
    assert t.cfg.schedule.burnin_kimg == 0.0 and t.cfg.augment.burnin_kimg == 0.0
    assert t.ema_halflife(0) == 500.0 and t.lr(0) == 2e-4 and t.gamma(0) == t.cfg.schedule.gamma_end
    assert t.aug_ctrl.p == pytest.approx(0.4)  # the augmentation ramp does not start again from 0
    assert all(torch.equal(t.G_ema.state_dict()[k], v) for k, v in loaded.items())

    t.train_step()
    beta = ema_beta(t.cfg.batch_size, 500.0)
    assert 0.9 < beta < 1
    G, G_ema = t.G.state_dict(), t.G_ema.state_dict()
    for name, _ in t.G_ema.named_parameters():
        expected = loaded[name] * beta + G[name] * (1 - beta)  # ema <- beta * ema + (1 - beta) * G
        torch.testing.assert_close(G_ema[name], expected, rtol=1e-5, atol=1e-6)
    moved = [name for name, _ in t.G.named_parameters() if not torch.equal(G[name], loaded[name])]
    assert moved and any(not torch.allclose(G_ema[n], G[n]) for n in moved)  # G_ema was not overwritten by G
    assert json.loads((tmp_path / "ft" / "config.json").read_text())["schedule"]["burnin_kimg"] == 0.0


def test_a_kept_burn_in_restarts_the_schedules_which_is_what_fine_tuning_avoids(tmp_path, source):
    t = Trainer(finetune_config(tmp_path / "kept", source), dataset=tiny_dataset(16),
                keep_burnin=("schedule.burnin_kimg",))
    assert t.cfg.schedule.burnin_kimg == 5.0 and t.cfg.augment.burnin_kimg == 0.0
    assert t.ema_halflife(0) == 0.0  # the pre-fix API behaviour: the first step sets G_ema = G
    t.train_step()
    for name, p in t.G_ema.named_parameters():
        assert torch.equal(p, t.G.state_dict()[name])


def test_training_from_scratch_keeps_its_burn_in(tmp_path):
    scratch = Trainer(finetune_config(tmp_path / "scratch", None), dataset=tiny_dataset(16))
    assert scratch.cfg.schedule.burnin_kimg == 5.0 and scratch.ema_halflife(0) == 0.0


def test_cli_fine_tuning_shares_the_reset_and_an_explicit_burn_in_wins(tmp_path, source):
    out = tmp_path / "cli"
    assert main(["train", "--init-from", str(source), "--out", str(out), "--kimg", "0.008", "--batch-size", "8",
                 "--data", "digits", "data_size=16", "schedule.burnin_kimg=3", "augment.kind=diffaugment",
                 "augment.p_mode=cosine", "augment.p=0.3", "augment.burnin_kimg=4"]) == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["schedule"]["burnin_kimg"] == 3.0 and saved["augment"]["burnin_kimg"] == 4.0
    out2 = tmp_path / "cli2"
    assert main(["train", "--init-from", str(source), "--out", str(out2), "--kimg", "0.008", "--batch-size", "8",
                 "--data", "digits", "data_size=16", "augment.kind=diffaugment", "augment.p_mode=cosine",
                 "augment.p=0.3"]) == 0
    saved = json.loads((out2 / "config.json").read_text())
    assert saved["schedule"]["burnin_kimg"] == 0.0 and saved["augment"]["burnin_kimg"] == 0.0


def test_burn_in_helpers():
    assert overridden_burnin(["schedule.burnin_kimg=2", "kimg=3", "augment.burnin_kimg = 1"]) == (
        "schedule.burnin_kimg", "augment.burnin_kimg")
    cfg = tiny_train_config("unused")
    cfg.augment.burnin_kimg = 2.0
    assert skip_burnin(cfg, ("augment.burnin_kimg",)) is cfg
    assert cfg.schedule.burnin_kimg == 0.0 and cfg.augment.burnin_kimg == 2.0
    with pytest.raises(ConfigError, match="unknown key"):
        skip_burnin(cfg, ("schedule.lr_end",))
