"""Augmentation, self-distillation and periodic metrics wired into the training loop."""

import json

import pytest
import torch
from helpers import tiny_dataset, tiny_train_config

from ganforge import load_generator
from ganforge.augment import AugmentConfig
from ganforge.training import Trainer
from ganforge.training.checkpoint import list_checkpoints, read_state


def log_records(run) -> list[dict]:
    return [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]


def test_adaptive_augmentation_logged_checkpointed_and_restored(tmp_path):
    aug = AugmentConfig(kind="ada", preset="r3gan", p_mode="adaptive", ada_kimg=0.05, ada_interval=1)
    cfg = tiny_train_config(str(tmp_path / "r"), kimg=0.032, augment=aug)
    t = Trainer(cfg, dataset=tiny_dataset(32))
    t.train()
    recs = [r for r in log_records(tmp_path / "r") if "aug_p" in r]
    assert recs and all(0.0 <= r["aug_p"] <= 1.0 for r in recs)
    assert recs[-1]["aug_p"] == pytest.approx(t.aug_ctrl.p)
    saved = read_state(list_checkpoints(tmp_path / "r")[-1])["augment"]
    resumed = Trainer(tiny_train_config(str(tmp_path / "r"), kimg=0.064, augment=aug), dataset=tiny_dataset(32),
                      resume=True)
    assert resumed.aug_ctrl.p == pytest.approx(t.aug_ctrl.p) and resumed.augment.p == pytest.approx(t.aug_ctrl.p)
    assert resumed.aug_ctrl.state_dict() == saved


def test_augmentation_never_reaches_samples(tmp_path):
    aug = AugmentConfig(kind="diffaugment", policy="color,translation,cutout")
    t = Trainer(tiny_train_config(str(tmp_path / "d"), kimg=0.008, augment=aug), dataset=tiny_dataset(16))
    t.train()
    z = torch.randn(4, t.G_ema.z_dim)
    assert torch.equal(t.G_ema(z), t.G_ema(z))  # the sampling path is deterministic: no augmentation in it


@pytest.mark.parametrize("distance", ["l1", "d-features"])
def test_self_distillation_term_logged(tmp_path, distance):
    cfg = tiny_train_config(str(tmp_path / distance), kimg=0.016, self_distill=True)
    cfg.sd.distance = distance
    Trainer(cfg, dataset=tiny_dataset(16)).train()
    recs = [r for r in log_records(tmp_path / distance) if "L_SD" in r]
    assert recs and all(r["L_SD"] >= 0 for r in recs)


def test_self_distillation_alpha_zero_only_monitors(tmp_path):
    """alpha = 0 logs L_SD but leaves training identical to a run without self-distillation."""
    data = tiny_dataset(16)
    base = Trainer(tiny_train_config(str(tmp_path / "a"), kimg=0.016), dataset=data)
    base.train()
    cfg = tiny_train_config(str(tmp_path / "b"), kimg=0.016, self_distill=True)
    cfg.sd.distance, cfg.sd.alpha, cfg.sd.augment = "l2", 0.0, False
    monitored = Trainer(cfg, dataset=data)
    monitored.train()
    assert all("L_SD" in r for r in log_records(tmp_path / "b") if "loss_G" in r)
    for a, b in zip(base.G.parameters(), monitored.G.parameters()):
        assert torch.equal(a, b)


def test_periodic_metrics_curves_and_best_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE_DIR", str(tmp_path / "cache"))
    cfg = tiny_train_config(str(tmp_path / "m"), kimg=0.032, metrics=["modes", "fid"], metrics_every_kimg=0.016,
                            metrics_num=64, best_metric="modes", metrics_features="classifier-mnist")
    cfg.net.img_channels = 3
    Trainer(cfg, dataset=tiny_dataset(32, channels=3)).train()
    rows = [json.loads(x) for x in (tmp_path / "m" / "metrics.jsonl").read_text().splitlines()]
    assert [r["kimg"] for r in rows] == [0.016, 0.032]
    assert all(0 <= r["modes"] <= 1000 and r["fid"] > 0 for r in rows)  # fid in the configured feature space
    assert (tmp_path / "m" / "metrics.png").exists()
    best = read_state(tmp_path / "m" / "best")["best"]
    assert best["metric"] == "modes" and best["value"] == max(r["modes"] for r in rows)
    # evaluating must not touch the training's random stream: the weights equal a run without metrics
    plain = tiny_train_config(str(tmp_path / "plain"), kimg=0.032)
    plain.net.img_channels = 3
    trainer = Trainer(plain, dataset=tiny_dataset(32, channels=3))
    trainer.train()
    for a, b in zip(load_generator(tmp_path / "m", ema=False).parameters(), trainer.G.parameters(), strict=True):
        assert torch.equal(a, b)
