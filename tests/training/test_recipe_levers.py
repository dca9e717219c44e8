"""The time-to-quality levers of the CPU recipe: lazy R1/R2, the D/G learning-rate ratio, the tuned tiny preset."""

import pytest
import torch
from helpers import tiny_dataset, tiny_train_config

from ganforge.training import Trainer, get_preset
from ganforge.training.overrides import ConfigError, apply_overrides


def _one_d_step(tmp_path, name: str, **loss) -> tuple[Trainer, dict]:
    cfg = tiny_train_config(str(tmp_path / name))
    cfg.schedule.burnin_kimg = 0.0  # constant gamma, so runs differ only in how the penalty is applied
    for k, v in loss.items():
        setattr(cfg.loss, k, v)
    t = Trainer(cfg, dataset=tiny_dataset(32))
    return t, t.train_step()


def test_lazy_penalty_runs_every_kth_step_weighted_by_k(tmp_path):
    """r_every=k: the penalty on steps 0, k, 2k, ... with gamma x k (StyleGAN2 Sec. 3.5); none in between."""
    lazy, terms = _one_d_step(tmp_path, "lazy", r_every=3)
    assert "R1" in terms and "R2" in terms and terms["regularised"] == 1.0
    steps = [lazy.train_step() for _ in range(5)]  # steps 1..5
    assert [t["regularised"] for t in steps] == [0.0, 0.0, 1.0, 0.0, 0.0]
    assert steps[0]["R1"] == terms["R1"] and steps[2]["R1"] != terms["R1"]  # lazy steps log the last value

    # step 0 of r_every=3 equals an every-step run whose gamma is 3x larger: the same D gradient (D's .grad
    # still holds it after the step; the G step does not touch D's gradients)
    lazy, _ = _one_d_step(tmp_path, "lazy2", r_every=3)
    eager_cfg = tiny_train_config(str(tmp_path / "eager"))
    eager_cfg.schedule.burnin_kimg = 0.0
    eager_cfg.schedule.gamma_end *= 3
    eager_cfg.loss.r_every = 1
    eager = Trainer(eager_cfg, dataset=tiny_dataset(32))
    eager.train_step()
    for a, b in zip(lazy.D.parameters(), eager.D.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-8)
    unscaled_cfg = tiny_train_config(str(tmp_path / "unscaled"))
    unscaled_cfg.schedule.burnin_kimg = 0.0
    unscaled_cfg.loss.r_every = 1
    unscaled = Trainer(unscaled_cfg, dataset=tiny_dataset(32))
    unscaled.train_step()
    assert any(not torch.allclose(a.grad, b.grad, rtol=1e-3) for a, b in zip(lazy.D.parameters(),
                                                                             unscaled.D.parameters()))


def test_lazy_penalty_rejects_zero(tmp_path):
    with pytest.raises(ConfigError, match="r_every"):
        apply_overrides(get_preset("tiny"), ["loss.r_every=0"])


def test_d_lr_ratio_scales_only_the_discriminator(tmp_path):
    cfg = tiny_train_config(str(tmp_path / "r"))
    cfg.schedule.d_lr_ratio = 4.0
    t = Trainer(cfg, dataset=tiny_dataset(16))
    hp = t._set_hparams()
    assert t.opt_G.param_groups[0]["lr"] == pytest.approx(hp["lr"])
    assert t.opt_D.param_groups[0]["lr"] == pytest.approx(4.0 * hp["lr"])


def test_tiny_preset_is_the_measured_cpu_recipe():
    """The demo preset keeps the levers docs/time_to_quality.md measured; a silent edit would void the curve."""
    cfg = get_preset("tiny")
    assert cfg.data == "mnist5k" and cfg.loss.name == "rpgan" and cfg.loss.r1 and cfg.loss.r2
    assert cfg.loss.r_every == 4 and cfg.net.mbstd_group == 4 and cfg.batch_size % cfg.net.mbstd_group == 0
    assert cfg.net.widths == [64, 64, 32, 16] and cfg.channels_last and cfg.net.pack == 4
    assert (cfg.schedule.lr_start, cfg.schedule.lr_end, cfg.schedule.burnin_kimg, cfg.kimg) == (2e-3, 2e-4, 120, 140)
    # the R3GAN Table 7 presets stay faithful to the paper: no lazy penalty, no minibatch-std, lr 2e-4
    for name in ("stacked-mnist", "cifar10", "ffhq256", "imagenet32"):
        paper = get_preset(name)
        assert paper.loss.r_every == 1 and paper.net.mbstd_group == 0 and paper.schedule.lr_start == 2e-4


def test_tiny_wide_is_the_measured_stacked_recipe():
    """tiny-wide is the command docs/time_to_quality.md ran (preset=tiny plus these overrides), under one name."""
    from ganforge.training.config import to_dict

    measured = apply_overrides(get_preset("tiny"), ["net.widths=[64,64,64,32]", "net.cardinalities=[8,8,8,4]",
                                                    "schedule.burnin_kimg=300", "schedule.ema_halflife_kimg_end=5",
                                                    "data=stacked-mnist", "kimg=1050"])
    assert {**to_dict(measured), "preset": "tiny-wide"} == to_dict(get_preset("tiny-wide"))


def test_tiny_dwide_is_the_measured_mnist5k_recipe():
    """tiny-dwide is the 30-minute mnist5k command of docs/time_to_quality.md under one name: tiny's G, tiny-wide's
    D."""
    from ganforge.networks import make_networks
    from ganforge.training.config import to_dict

    measured = apply_overrides(get_preset("tiny"), ["conditional=true", "schedule.burnin_kimg=300",
                                                    "schedule.ema_halflife_kimg_end=6", "net.d_widths=[64,64,64,32]",
                                                    "net.d_cardinalities=[8,8,8,4]", "kimg=312"])
    assert {**to_dict(measured), "preset": "tiny-dwide"} == to_dict(get_preset("tiny-dwide"))
    sizes = {name: [sum(p.numel() for p in m.parameters()) for m in make_networks(get_preset(name).net)]
             for name in ("tiny", "tiny-wide", "tiny-dwide")}
    assert sizes["tiny-dwide"] == [sizes["tiny"][0], sizes["tiny-wide"][1]]


def test_tiny_wide_d128_is_the_measured_stacked_recipe():
    """tiny-wide-d128 is the 120-minute Stacked MNIST command of docs/time_to_quality.md under one name: tiny-wide's
    G, a D of twice its width."""
    from ganforge.networks import make_networks
    from ganforge.training.config import to_dict

    measured = apply_overrides(get_preset("tiny-wide"), ["net.d_widths=[128,128,128,64]",
                                                         "net.d_cardinalities=[16,16,16,8]", "kimg=616"])
    assert {**to_dict(measured), "preset": "tiny-wide-d128"} == to_dict(get_preset("tiny-wide-d128"))
    g_wide, d_wide = (sum(p.numel() for p in m.parameters()) for m in make_networks(get_preset("tiny-wide").net))
    g, d = (sum(p.numel() for p in m.parameters()) for m in make_networks(get_preset("tiny-wide-d128").net))
    assert g == g_wide and d > 2.5 * d_wide


def test_tiny_g96_d128_is_the_best_measured_stacked_recipe():
    """tiny-g96-d128 is the g96_d128 command of docs/time_to_quality.md (tiny-wide-d128 with a G 1.5x as wide)."""
    from ganforge.training.config import to_dict

    measured = apply_overrides(get_preset("tiny-wide-d128"), ["net.widths=[96,96,96,48]",
                                                              "net.cardinalities=[12,12,12,6]", "kimg=1582"])
    assert {**to_dict(measured), "preset": "tiny-g96-d128"} == to_dict(get_preset("tiny-g96-d128"))
