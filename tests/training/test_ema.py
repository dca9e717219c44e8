"""Extra EMAs of G (schedule.ema_extra_kimg): their schedule and update, checkpoints, resume and load_generator."""

import pytest
import torch
from helpers import tiny_dataset, tiny_train_config
from torch import nn

from ganforge import load_generator
from ganforge.errors import UserError
from ganforge.training import Trainer
from ganforge.training.checkpoint import list_checkpoints, read_tensors
from ganforge.training.config import TrainConfig
from ganforge.training.ema import ExtraEMAs, extra_ema_labels
from ganforge.training.overrides import ConfigError, apply_overrides
from ganforge.training.schedules import Cosine, EMAHalfLife, ScaledHalfLife


def test_the_key_takes_a_list_of_positive_distinct_half_lives():
    assert apply_overrides(TrainConfig(), ["schedule.ema_extra_kimg=[20,50]"]).schedule.ema_extra_kimg == [20.0, 50.0]
    assert apply_overrides(TrainConfig(), ["schedule.ema_extra_kimg=50"]).schedule.ema_extra_kimg == [50.0]
    assert TrainConfig().schedule.ema_extra_kimg == []
    for bad, match in (("[20,20.0]", "twice"), ("[0]", "positive finite"), ("[-5]", "positive finite"),
                       ("[1e999]", "finite"), ("[x]", "expected a number")):
        with pytest.raises(ConfigError, match=match):
            apply_overrides(TrainConfig(), [f"schedule.ema_extra_kimg={bad}"])


def test_scaled_half_life_follows_the_main_schedule():
    burnin = EMAHalfLife(Cosine(1000.0, 5000.0, 1.0))  # 1 -> 5 kimg over the first 1 kimg
    assert burnin(500) == pytest.approx(3000.0)
    assert ScaledHalfLife(burnin, 50.0)(500) == pytest.approx(30_000.0)
    assert ScaledHalfLife(burnin, 50.0)(10_000) == pytest.approx(50_000.0)
    ramp = EMAHalfLife(Cosine(0.0, 5000.0, 0.0), rampup=0.5)  # at most 0.5 x images seen
    assert ScaledHalfLife(ramp, 50.0)(2000) == pytest.approx(10_000.0)  # min(5000, 1000) x 10
    no_ema = EMAHalfLife(Cosine(2000.0, 0.0, 0.0), rampup=0.1)  # main G_ema = G: h itself, same ramp-up
    assert ScaledHalfLife(no_ema, 3.0)(10_000) == pytest.approx(1000.0)
    assert ScaledHalfLife(no_ema, 3.0)(100_000) == pytest.approx(3000.0)


def test_extra_ema_update_matches_a_hand_computed_average():
    G_ema = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        G_ema.weight.fill_(0.0)
    extra = ExtraEMAs(G_ema, EMAHalfLife(Cosine(10_000.0, 10_000.0, 0.0)), [20.0])  # main 10 kimg, extra 20 kimg
    assert list(extra.modules) == ["G_ema_h20"]
    live = nn.Linear(1, 1, bias=False)
    for w in (1.0, 2.0, 3.0):  # batch 20k images = one half-life: beta 0.5
        with torch.no_grad():
            live.weight.fill_(w)
        extra.update(live, 20_000, 0)
    assert extra.modules["G_ema_h20"].weight.item() == pytest.approx(2.125)  # 0.5, 1.25, 2.125
    assert G_ema.weight.item() == 0.0  # a copy: G_ema itself untouched
    extra.copy_from(G_ema)
    assert extra.modules["G_ema_h20"].weight.item() == 0.0


def _weights(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def _close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_trainer_keeps_extra_emas_in_checkpoints_and_resumes_them(tmp_path, capsys):
    data = tiny_dataset(40)
    cfg = tiny_train_config(str(tmp_path / "a"), kimg=0.048)
    cfg.schedule.ema_extra_kimg = [2.0, 0.5]  # 2.0 is the main EMA's own end: the same average as G_ema
    straight = Trainer(cfg, dataset=data)
    straight.train()
    extra = straight.ema_extra.modules
    assert list(extra) == ["G_ema_h2", "G_ema_h0.5"]
    assert _close(_weights(extra["G_ema_h2"]), _weights(straight.G_ema))
    assert not _close(_weights(extra["G_ema_h0.5"]), _weights(straight.G_ema))
    last = list_checkpoints(tmp_path / "a")[-1]
    assert extra_ema_labels(last) == ["h0.5", "h2"]
    for name, module in extra.items():
        assert all(torch.equal(v, module.state_dict()[k]) for k, v in read_tensors(last, name).items())
    G = load_generator(tmp_path / "a", ema="h0.5")  # also by its module name
    assert _close(_weights(G), _weights(extra["G_ema_h0.5"]))
    assert _close(_weights(load_generator(last, ema="G_ema_h2")), _weights(extra["G_ema_h2"]))
    assert _close(_weights(load_generator(last)), _weights(straight.G_ema))
    assert _close(_weights(load_generator(last, ema=False)), _weights(straight.G))
    with pytest.raises(UserError, match=r"no EMA 'h7'.*extra EMAs h0\.5, h2"):
        load_generator(last, ema="h7")
    with pytest.raises(UserError, match="holds one generator"):
        load_generator(tmp_path / "a" / "generator.safetensors", ema="h2")

    half = tiny_train_config(str(tmp_path / "b"), kimg=0.024)
    half.schedule.ema_extra_kimg = [2.0, 0.5]
    Trainer(half, dataset=data).train()
    cfg_b = tiny_train_config(str(tmp_path / "b"), kimg=0.048)
    cfg_b.schedule.ema_extra_kimg = [2.0, 0.5]
    resumed = Trainer(cfg_b, dataset=data, resume=True)
    resumed.train()
    for name, module in resumed.ema_extra.modules.items():
        a, b = _weights(extra[name]), _weights(module)
        assert all(torch.equal(a[k], b[k]) for k in a), name
    assert "has no G_ema" not in capsys.readouterr().err


def test_resume_adding_an_extra_ema_starts_it_from_g_ema(tmp_path, capsys):
    data = tiny_dataset(16)
    Trainer(tiny_train_config(str(tmp_path / "run"), kimg=0.016), dataset=data).train()
    with pytest.raises(UserError, match=r"no extra EMAs.*schedule\.ema_extra_kimg"):
        load_generator(tmp_path / "run", ema="h50")
    cfg = tiny_train_config(str(tmp_path / "run"), kimg=0.024)
    cfg.schedule.ema_extra_kimg = [50.0]
    resumed = Trainer(cfg, dataset=data, resume=True)
    assert resumed.cur_nimg == 16
    assert "has no G_ema_h50; starting it as a copy of G_ema" in capsys.readouterr().err
    ema = _weights(resumed.G_ema)
    assert ema.keys() == _weights(resumed.ema_extra.modules["G_ema_h50"]).keys()
    assert all(torch.equal(v, resumed.ema_extra.modules["G_ema_h50"].state_dict()[k]) for k, v in ema.items())
    assert not _close(ema, _weights(resumed.G))  # G_ema, not G, is where it starts
    resumed.train()
    assert extra_ema_labels(list_checkpoints(tmp_path / "run")[-1]) == ["h50"]
    capsys.readouterr()
    again = Trainer(tiny_train_config(str(tmp_path / "run"), kimg=0.032), dataset=data, resume=True)
    assert again.ema_extra.modules == {} and "G_ema_h50" not in again.modules()
    assert "extra EMAs h50, which schedule.ema_extra_kimg no longer lists" in capsys.readouterr().err
