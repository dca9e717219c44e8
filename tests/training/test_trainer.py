import json
import math
import warnings

import pytest
import torch
from helpers import tiny_dataset, tiny_train_config

from ganforge import load_generator
from ganforge.training import Trainer
from ganforge.training.checkpoint import CheckpointError, list_checkpoints, read_state
from ganforge.training.guard import TrainingDiverged


def states(t: Trainer) -> dict[str, torch.Tensor]:
    out = {}
    for name, m in (("G", t.G), ("D", t.D), ("G_ema", t.G_ema)):
        out.update({f"{name}.{k}": v.clone() for k, v in m.state_dict().items()})
    return out


def test_resume_is_bit_identical(tmp_path):
    data = tiny_dataset(40)
    straight = Trainer(tiny_train_config(str(tmp_path / "a"), kimg=0.048), dataset=data)
    straight.train()
    half = Trainer(tiny_train_config(str(tmp_path / "b"), kimg=0.024), dataset=data)
    half.train()
    resumed = Trainer(tiny_train_config(str(tmp_path / "b"), kimg=0.048), dataset=data, resume=True)
    assert resumed.cur_nimg == 24 and resumed.step == 3
    resumed.train()
    a, b = states(straight), states(resumed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # and the run really trained: weights moved away from the initial checkpoint
    first = list_checkpoints(tmp_path / "a")[0]
    assert read_state(first)["cur_nimg"] == 0


def test_checkpoints_from_before_a_new_network_key_resume_with_its_default(tmp_path):
    data = tiny_dataset(16)
    Trainer(tiny_train_config(str(tmp_path / "old"), kimg=0.016), dataset=data).train()
    for c in list_checkpoints(tmp_path / "old"):  # as written before net.resample_border existed
        state = json.loads((c / "state.json").read_text())
        del state["config"]["net"]["resample_border"]
        (c / "state.json").write_text(json.dumps(state))
    resumed = Trainer(tiny_train_config(str(tmp_path / "old"), kimg=0.024), dataset=data, resume=True)
    assert resumed.cur_nimg == 16
    with pytest.raises(CheckpointError, match="other network settings"):  # a real difference still stops it
        cfg = tiny_train_config(str(tmp_path / "old"), kimg=0.024)
        cfg.net.resample_border = "zero"
        Trainer(cfg, dataset=data, resume=True)


def test_run_directory_contents(tmp_path):
    cfg = tiny_train_config(str(tmp_path / "run"), kimg=0.032)
    Trainer(cfg, dataset=tiny_dataset(32)).train()
    run = tmp_path / "run"
    assert json.loads((run / "config.json").read_text())["kimg"] == 0.032
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    for key in ("loss_D", "loss_G", "R1", "R2", "lr", "gamma", "beta2", "ema_halflife_kimg", "sec_per_kimg",
                "max_rss_mb"):
        assert key in records[-1]
    assert records[-1]["kimg"] == pytest.approx(0.032)
    assert list((run / "samples").glob("grid-*.png"))
    assert list((run / "tensorboard").iterdir())
    G = load_generator(run)
    assert G(torch.randn(2, G.z_dim)).shape == (2, 1, 32, 32)
    G2 = load_generator(run / "generator.safetensors")
    for (k, v), (_, v2) in zip(G.state_dict().items(), G2.state_dict().items()):
        assert torch.equal(v, v2), k


def test_conditional_training(tmp_path):
    cfg = tiny_train_config(str(tmp_path / "c"), kimg=0.016, conditional=True)
    t = Trainer(cfg, dataset=tiny_dataset(32, channels=3, num_classes=4))
    t.train()
    assert t.G.num_classes == 4 and t.D.num_classes == 4
    G = load_generator(tmp_path / "c")
    assert G(torch.randn(2, G.z_dim), torch.tensor([0, 3])).shape == (2, 3, 32, 32)


def test_resume_without_checkpoint_is_clear(tmp_path):
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        Trainer(tiny_train_config(str(tmp_path / "empty")), dataset=tiny_dataset(16), resume=True)


def test_checkpoint_from_other_architecture_names_tensors(tmp_path):
    Trainer(tiny_train_config(str(tmp_path / "a"), kimg=0.008), dataset=tiny_dataset(16)).train()
    other = tiny_train_config(str(tmp_path / "b"), init_from=str(tmp_path / "a"))
    other.net.widths = [32] * 4
    with pytest.raises(CheckpointError, match="different architecture") as e:
        Trainer(other, dataset=tiny_dataset(16))
    assert "stages.0" in str(e.value)


def _poison_d_loss(t: Trainer, bad_steps: set[int]) -> None:
    clean = t.loss_d

    def loss_d(real, fake):
        out = clean(real, fake)
        return out * math.nan if t.step in bad_steps else out

    t.loss_d = loss_d


def test_divergence_guard_skips_then_rolls_back_then_stops(tmp_path):
    cfg = tiny_train_config(str(tmp_path / "nan"), kimg=1.0, max_nonfinite_skips=2, max_rollbacks=1)
    t = Trainer(cfg, dataset=tiny_dataset(16))
    _poison_d_loss(t, set(range(1000)))
    with pytest.raises(TrainingDiverged, match="'loss_D' was non-finite at step") as e:
        t.train()
    assert "lower the learning rate" in str(e.value).lower()
    for ck in list_checkpoints(tmp_path / "nan"):  # nothing non-finite reached disk
        assert read_state(ck)["cur_nimg"] == 0
    events = [json.loads(x) for x in (tmp_path / "nan" / "log.jsonl").read_text().splitlines()]
    actions = [e["action"] for e in events if e.get("event") == "nonfinite"]
    assert actions == ["skip", "skip", "rollback", "skip", "skip"]
    assert all(torch.isfinite(v).all() for v in states(t).values())


def test_transient_nonfinite_steps_are_skipped(tmp_path):
    cfg = tiny_train_config(str(tmp_path / "blip"), kimg=0.048, max_nonfinite_skips=3)
    t = Trainer(cfg, dataset=tiny_dataset(16))
    _poison_d_loss(t, {2, 3})
    t.train()
    events = [json.loads(x) for x in (tmp_path / "blip" / "log.jsonl").read_text().splitlines()]
    assert [e["action"] for e in events if e.get("event") == "nonfinite"] == ["skip", "skip"]
    assert t.guard.total_skipped == 2 and t.cur_nimg == 48
    assert all(torch.isfinite(v).all() for v in states(t).values())


def test_fine_tuned_run_can_be_resumed(tmp_path):
    data = tiny_dataset(16)
    Trainer(tiny_train_config(str(tmp_path / "src"), kimg=0.008), dataset=data).train()
    Trainer(tiny_train_config(str(tmp_path / "ft"), kimg=0.008, init_from=str(tmp_path / "src")), dataset=data).train()
    assert json.loads((tmp_path / "ft" / "config.json").read_text())["init_from"] == str(tmp_path / "src")
    resumed = Trainer(tiny_train_config(str(tmp_path / "ft"), kimg=0.016), dataset=data, resume=True)
    assert resumed.cur_nimg == 8


def test_bf16_on_a_cpu_without_native_bf16_warns(tmp_path, monkeypatch):
    from ganforge.utils import perf

    monkeypatch.setattr(perf, "_cpu_flags", lambda: frozenset({"avx2", "fma"}))
    with pytest.warns(UserWarning, match="emulated"):
        t = Trainer(tiny_train_config(str(tmp_path / "a"), precision="bf16"), dataset=tiny_dataset(16))
    assert t.G.low_precision == torch.bfloat16  # the user's explicit choice still holds
    monkeypatch.setattr(perf, "_onednn_bf16", lambda: True)
    monkeypatch.setattr(perf, "_cpu_flags", lambda: frozenset({"avx512_bf16"}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Trainer(tiny_train_config(str(tmp_path / "b"), precision="bf16"), dataset=tiny_dataset(16))


def test_metric_names_and_best_metric_are_checked_before_training(tmp_path):
    from ganforge.training.overrides import ConfigError

    with pytest.raises(ConfigError, match="unknown metric 'fdi'"):
        Trainer(tiny_train_config(str(tmp_path / "a"), metrics=["fdi"]), dataset=tiny_dataset(16))
    with pytest.raises(ConfigError, match=r"best_metric 'fid'.*kid@vgg16"):
        Trainer(tiny_train_config(str(tmp_path / "b"), metrics=["kid@vgg16"], best_metric="fid"),
                dataset=tiny_dataset(16))
    with pytest.raises(ConfigError, match="set metrics"):
        Trainer(tiny_train_config(str(tmp_path / "c"), best_metric="fid"), dataset=tiny_dataset(16))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # nothing written before the check
    Trainer(tiny_train_config(str(tmp_path / "d"), metrics=["fid", "modes"], best_metric="modes_kl"),
            dataset=tiny_dataset(16))
