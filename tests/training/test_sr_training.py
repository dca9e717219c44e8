"""task=sr: Real-ESRGAN's recipe as pieces of the one training loop. Loss terms per stage, a step that trains G (and
D), checkpoints that resume, the GAN stage starting from the ESRNet run, bad settings refused when built, the task's
G-side modules (optimised and checkpointed with G), LPIPS and FID on crops in the evaluation and rank 0 alone
evaluating."""

import json
from typing import ClassVar

import pytest
import torch
import torch.nn.functional as F
from helpers import tiny_dataset, tiny_train_config
from torch import nn

from ganforge.cli.main import main
from ganforge.data.degradation import usm_sharpen
from ganforge.data.sr_pairs import HRImages
from ganforge.errors import UserError
from ganforge.losses import sr as L
from ganforge.metrics.sr import fid_on_crops
from ganforge.networks.sr import SRDiscConfig, SRNetConfig, load_sr
from ganforge.perceptual import WeightsNotFoundError
from ganforge.training import TrainConfig, Trainer, get_preset, sr_task
from ganforge.training.checkpoint import CheckpointError, list_checkpoints, read_state
from ganforge.training.overrides import ConfigError, apply_overrides
from ganforge.training.validate import check_metrics

REAL_BUILD_LPIPS, REAL_LPIPS_NOTE = sr_task.build_lpips, sr_task.lpips_weights_note


@pytest.fixture(autouse=True)
def small_vgg(monkeypatch):
    """A narrow random VGG16 in place of the ImageNet trunk and an L1 stand-in for LPIPS (its weights count as
    installed): no weights are read."""
    monkeypatch.setattr(sr_task, "build_perceptual", lambda name, weights=None, precision="fp32": L.PerceptualLoss(
        L.make_vgg(name, 16), L.layer_weights(name), precision))
    monkeypatch.setattr(sr_task, "build_lpips", fake_lpips)
    monkeypatch.setattr(sr_task, "lpips_weights_note", lambda net: None)


def photos(n: int = 2, side: int = 48) -> HRImages:
    g = torch.Generator().manual_seed(1)
    imgs = [torch.randint(0, 256, (3, side, side + 8), generator=g, dtype=torch.uint8) for _ in range(n)]
    return HRImages(imgs, [f"{i}.png" for i in range(n)], "random", "test")


def sr_config(out, stage: str = "esrgan", **kw) -> TrainConfig:
    cfg = get_preset("sr-tiny" if stage == "esrgan" else "sr-tiny-esrnet")
    cfg.out, cfg.device, cfg.batch_size, cfg.kimg = str(out), "cpu", 2, 0.004
    cfg.sr.net, cfg.sr.disc = SRNetConfig(num_feat=4, num_conv=1), SRDiscConfig(num_feat=4)
    cfg.sr.degradation, cfg.sr.eval_pairs, cfg.metrics = "bicubic", 2, ["psnr", "ssim"]
    cfg.log_every_kimg = cfg.snapshot_every_kimg = cfg.metrics_every_kimg = 0.002
    return apply_overrides(cfg, [f"{k}={json.dumps(v)}" for k, v in kw.items()])


def params(m: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().clone() for p in m.parameters()])


def test_esrnet_is_l1_only_against_the_sharpened_crop(tmp_path):
    t = Trainer(sr_config(tmp_path / "r", "esrnet"), dataset=photos())
    assert t.task.perceptual is None and not t.task.adversarial
    lr, hr = t.task.next_batch()
    loss, terms, sr = t.task.generator_loss(t.G, t.D, lr, hr)
    assert set(terms) == {"L1", "loss_G"}
    assert torch.allclose(loss, F.l1_loss(sr, usm_sharpen(hr)))
    assert (t.cfg.schedule.lr_start, t.cfg.schedule.beta1, t.cfg.schedule.beta2_start) == (2e-4, 0.9, 0.99)


def test_esrgan_adds_perceptual_and_a_gan_term_weighted_0_1(tmp_path):
    t = Trainer(sr_config(tmp_path / "r"), dataset=photos())
    assert (t.task.pixel_weight, t.task.perceptual_weight, t.task.gan_weight) == (1.0, 1.0, 0.1)
    assert t.cfg.loss.name == "nsgan" and t.cfg.schedule.lr_start == 1e-4
    lr, hr = t.task.next_batch()
    const_d = lambda x: torch.full((x.shape[0], 1, *x.shape[-2:]), 0.3)  # noqa: E731
    loss, terms, sr = t.task.generator_loss(t.G, const_d, lr, hr)
    target = usm_sharpen(hr)
    assert terms["L_GAN"] == pytest.approx(F.softplus(torch.tensor(-0.3)).item(), rel=1e-5)  # BCE(D(G(lr)), real)
    expected = F.l1_loss(sr, target) + t.task.perceptual(sr, target) + 0.1 * terms["L_GAN"]
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    d_loss, d_terms = t.task.discriminator_loss(const_d, hr, sr)  # BCE(D(hr), 1) + BCE(D(sr), 0)
    bce = F.softplus(torch.tensor(-0.3)) + F.softplus(torch.tensor(0.3))
    assert d_terms["D_real"] == pytest.approx(0.3) and d_loss.item() == pytest.approx(bce.item(), rel=1e-5)


def test_perceptual_precision_reaches_the_loss(tmp_path):
    t = Trainer(sr_config(tmp_path / "r", **{"sr.perceptual_precision": "bf16"}), dataset=photos())
    assert t.task.perceptual.precision == "bf16"
    assert Trainer(sr_config(tmp_path / "d"), dataset=photos()).task.perceptual.precision == "fp32"


def test_one_step_trains_g_and_d(tmp_path):
    t = Trainer(sr_config(tmp_path / "r", **{"sr.degradation": "realesrgan"}), dataset=photos())
    g0, d0, e0 = params(t.G), params(t.D), params(t.G_ema)
    terms = t.train_step()
    assert terms["nonfinite"] is None and {"L1", "L_percep", "L_GAN", "loss_D", "grad_D"} <= set(terms)
    assert not torch.equal(g0, params(t.G)) and not torch.equal(d0, params(t.D))
    assert not torch.equal(e0, params(t.G_ema)) and t.cur_nimg == 2 and t.sampler.step == 1


def test_esrnet_step_leaves_d_alone(tmp_path):
    t = Trainer(sr_config(tmp_path / "r", "esrnet"), dataset=photos())
    g0, d0 = params(t.G), params(t.D)
    terms = t.train_step()
    assert "loss_D" not in terms and not torch.equal(g0, params(t.G)) and torch.equal(d0, params(t.D))
    assert t.opt_G.param_groups[0]["betas"] == (0.9, 0.99)  # Real-ESRGAN's Adam, not R3GAN's beta1 = 0


def test_run_writes_checkpoints_metrics_grid_and_resumes(tmp_path):
    data = photos()
    run = Trainer(sr_config(tmp_path / "r"), dataset=data)
    run.train()  # 2 steps of 2 pairs
    out = tmp_path / "r"
    assert read_state(list_checkpoints(out)[-1])["step"] == 2
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert {"psnr", "ssim"} <= set(metrics[-1]) and 0 < metrics[-1]["psnr"] < 100
    assert sorted(p.name for p in (out / "samples").glob("*.png"))
    G = load_sr(out / "generator.safetensors")  # what `ganforge upscale --weights` takes
    assert torch.equal(params(G), params(run.G_ema))
    resumed = Trainer(sr_config(out, kimg=0.006), dataset=data, resume=True)
    assert (resumed.cur_nimg, resumed.step, resumed.sampler.step) == (4, 2, 2)
    assert torch.equal(params(resumed.G), params(run.G)) and torch.equal(params(resumed.D), params(run.D))
    resumed.train()
    assert resumed.step == 3


def test_gan_stage_starts_from_the_esrnet_ema_generator(tmp_path):
    data = photos()
    esrnet = Trainer(sr_config(tmp_path / "net", "esrnet"), dataset=data)
    esrnet.train()
    gan = Trainer(sr_config(tmp_path / "gan", init_from=str(tmp_path / "net")), dataset=data)
    assert torch.equal(params(gan.G), params(esrnet.G_ema)) and torch.equal(params(gan.G_ema), params(esrnet.G_ema))
    assert gan.cur_nimg == 0
    with pytest.raises(UserError, match="other settings"):
        Trainer(sr_config(tmp_path / "gan2", init_from=str(tmp_path / "net"), **{"sr.net.num_feat": 8}),
                dataset=data)


@pytest.mark.parametrize("overrides, match", [
    ({"sr.crop": 30}, "not a multiple of sr.net.scale"),
    ({"sr.crop": 36}, "multiples of 8"),
    ({"sr.stage": "esrnet", "sr.gan_weight": 0.1}, "without a discriminator"),
    ({"sr.gan_weight": -1}, "sr.gan_weight"),
    ({"sr.stage": "esrgan2"}, "sr.stage"),
    ({"sr.net.arch": "edsr"}, "arch"),
    ({"sr.pixel_weight": 0, "sr.perceptual_weight": 0, "sr.gan_weight": 0}, "nothing to train"),
    ({"loss.r1": True}, "task=sr does not support loss.r1"),
    ({"conditional": True}, "task=sr does not support conditional"),
    ({"schedule.beta1": 1.0}, "schedule.beta1"),
    ({"sr.pool_size": 5}, r"sr.pool_size 5 is not a multiple of batch_size 2.*sr.pool_size=4 or 6"),
    ({"sr.pool_size": -2}, "sr.pool_size must be >= 0"),
    ({"sr.perceptual_precision": "fp16"}, "sr.perceptual_precision"),
])
def test_bad_settings_are_refused_when_built(tmp_path, overrides, match):
    with pytest.raises(ConfigError, match=match):
        sr_config(tmp_path / "r", **overrides)


def test_unknown_sr_metric_is_refused_before_training(tmp_path):
    cfg = sr_config(tmp_path / "r")
    cfg.metrics, cfg.best_metric = ["psnr", "fid"], ""
    with pytest.raises(ConfigError, match="fid not available for task=sr"):
        check_metrics(cfg)
    cfg.metrics, cfg.best_metric = ["psnr"], "ssim"
    with pytest.raises(ConfigError, match="best_metric"):
        check_metrics(cfg)


def test_cli_trains_the_tiny_preset_on_the_built_in_photos(tmp_path, capsys):
    out = tmp_path / "esrnet"
    assert main(["train", "--preset", "sr-tiny-esrnet", "--out", str(out), "--kimg", "0.008", "--batch-size", "4",
                 "metrics_every_kimg=0", "sr.eval_pairs=2"]) == 0
    assert "ganforge upscale IMAGE OUT.png --weights" in capsys.readouterr().out
    assert json.loads((out / "config.json").read_text())["task"] == "sr"
    assert read_state(list_checkpoints(out)[-1])["step"] == 2 and (out / "generator.safetensors").is_file()
    capsys.readouterr()
    assert main(["generate", str(out), "--seeds", "0-1", "--grid", str(tmp_path / "g.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "super-resolution run" in err and "ganforge upscale" in err


class OutputGain(nn.Module):
    """A G-side module outside G: a learnt gain whose loss term reads G's output."""

    def __init__(self) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(1))


@pytest.fixture
def extra_module(monkeypatch):
    """SRTask.g_modules returns one OutputGain that enters G's loss, as the trainer hook is meant to be used."""
    loss = sr_task.SRTask.generator_loss
    monkeypatch.setattr(sr_task.SRTask, "g_modules",
                        lambda self: self.__dict__.setdefault("_extra", {"G_gain": OutputGain()}))

    def with_gain(self, G, D, lr, hr):
        total, terms, sr = loss(self, G, D, lr, hr)
        return total + (self._extra["G_gain"].gain * sr - hr).abs().mean(), terms, sr

    monkeypatch.setattr(sr_task.SRTask, "generator_loss", with_gain)


def test_task_g_modules_join_g_optimiser_and_checkpoints(tmp_path, extra_module):
    data = photos()
    t = Trainer(sr_config(tmp_path / "r"), dataset=data)
    gain = t.g_modules["G_gain"].gain
    assert gain.device == t.device and [p is gain for p in t.opt_G.param_groups[1]["params"]] == [True]
    t.train_step()
    assert gain.grad is not None and gain.item() != 1.0
    assert t.opt_G.param_groups[1]["lr"] == t.opt_G.param_groups[0]["lr"] == t.cfg.schedule.lr_start
    t.train()  # to 4 images, checkpointed
    assert (list_checkpoints(tmp_path / "r")[-1] / "G_gain.safetensors").is_file()
    resumed = Trainer(sr_config(tmp_path / "r", kimg=0.006), dataset=data, resume=True)
    assert torch.equal(resumed.g_modules["G_gain"].gain, gain)
    assert torch.equal(resumed.opt_G.state[resumed.g_modules["G_gain"].gain]["exp_avg"], t.opt_G.state[gain]["exp_avg"])


def test_gan_runs_have_no_g_modules(tmp_path):
    t = Trainer(tiny_train_config(str(tmp_path / "gan")), dataset=tiny_dataset())
    assert t.g_modules == {} and len(t.opt_G.param_groups) == 1 and set(t.modules()) == {"G", "D", "G_ema"}


@pytest.mark.parametrize(("key", "value"), [("sr.net.num_feat", 8), ("sr.disc.num_feat", 8)])
def test_resume_with_other_sr_networks_names_the_sr_keys(tmp_path, key, value):
    Trainer(sr_config(tmp_path / "r"), dataset=photos()).train()
    with pytest.raises(CheckpointError, match=rf"other {key.rsplit('.', 1)[0]}\.\* settings .*'num_feat': \(4, 8\)"):
        Trainer(sr_config(tmp_path / "r", kimg=0.006, **{key: value}), dataset=photos(), resume=True)


def fake_lpips(net: str) -> nn.Module:
    """A stand-in for LPIPS (no backbone weights are read): mean |x - y| per image."""
    return L1Distance()


class L1Distance(nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (x - y).abs().mean((1, 2, 3))


def test_periodic_evaluation_logs_lpips_when_available(tmp_path, monkeypatch):
    built = []
    monkeypatch.setattr(sr_task, "build_lpips", lambda net: built.append(net) or fake_lpips(net))
    Trainer(sr_config(tmp_path / "r"), dataset=photos()).train()
    rows = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) >= 2 and all(0 < r["lpips"] < 1 and {"psnr", "ssim"} <= set(r) for r in rows)
    log = [json.loads(line) for line in (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    assert any("metric/lpips" in r for r in log) and built == ["vgg16"]  # built once per run


def test_periodic_evaluation_without_lpips_weights_says_so_once(tmp_path, monkeypatch, capsys):
    def missing(net):
        raise WeightsNotFoundError(f"no {net} weights")

    monkeypatch.setattr(sr_task, "build_lpips", missing)
    Trainer(sr_config(tmp_path / "r"), dataset=photos()).train()
    rows = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) >= 2 and all("lpips" not in r and "psnr" in r for r in rows)
    log = [json.loads(line) for line in (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    assert [r.get("event") for r in log].count("lpips_skipped") == 1
    assert capsys.readouterr().err.count("LPIPS is left out") == 1


def test_lpips_off_is_never_built(tmp_path, monkeypatch):
    monkeypatch.setattr(sr_task, "build_lpips", lambda net: pytest.fail("LPIPS built with sr.eval_lpips_net=none"))
    Trainer(sr_config(tmp_path / "r", **{"sr.eval_lpips_net": "none"}), dataset=photos()).train()
    rows = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert rows and all("lpips" not in r for r in rows)



def test_presets_carry_realesrgan_pool_and_usm_options():
    for name, pool in (("realesrnet-x4plus", 720), ("realesrgan-x4plus", 720), ("sr-tiny-esrnet", 120),
                       ("sr-tiny", 120)):  # 15 batches: queue_size 180 at 12 pairs per GPU
        s = get_preset(name).sr
        assert s.pool_size == pool and (s.gt_usm, s.l1_gt_usm, s.percep_gt_usm, s.gan_gt_usm) == (True, True, True,
                                                                                                   False)


@pytest.mark.parametrize("l1, percep, gan", [(True, True, False), (False, False, True)])
def test_usm_switches_choose_each_terms_target(tmp_path, l1, percep, gan):
    t = Trainer(sr_config(tmp_path / "r", **{"sr.l1_gt_usm": l1, "sr.percep_gt_usm": percep, "sr.gan_gt_usm": gan}),
                dataset=photos())
    assert t.task.sampler.usm and t.task.sampler.pool.size == 120  # the preset's: LR from USM(HR), a pool
    lr, hr = t.task.next_batch()
    sharp = usm_sharpen(hr)
    assert (sharp - hr).abs().max() > 0.05  # the sharpened crop is another target
    seen = []

    def D(x):
        seen.append(x)
        return torch.zeros(x.shape[0], 1, *x.shape[-2:])

    _, terms, sr = t.task.generator_loss(t.G, D, lr, hr)
    assert terms["L1"] == pytest.approx(F.l1_loss(sr, sharp if l1 else hr).item(), rel=1e-6)
    assert terms["L1"] != pytest.approx(F.l1_loss(sr, hr if l1 else sharp).item(), rel=1e-6)
    assert terms["L_percep"] == pytest.approx(t.task.perceptual(sr, sharp if percep else hr).item(), rel=1e-6)
    t.task.discriminator_loss(D, hr, sr)
    assert torch.equal(seen[-1][:len(hr)], sharp if gan else hr)  # D's reals


@pytest.fixture
def no_lpips_weights(monkeypatch, tmp_path):
    """The real LPIPS functions with empty weight folders: as on a machine where setup_weights never ran."""
    monkeypatch.setattr(sr_task, "lpips_weights_note", REAL_LPIPS_NOTE)
    monkeypatch.setenv("GANFORGE_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-torch"))
    monkeypatch.delenv("GANFORGE_ALLOW_DOWNLOAD", raising=False)


def test_final_evaluation_without_lpips_weights_reports_psnr_and_ssim(tmp_path, no_lpips_weights, capsys):
    out = tmp_path / "r"
    Trainer(sr_config(out), dataset=photos()).train()  # sr.eval_lpips_net=auto, the default
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 2 and {"psnr", "ssim"} <= set(rows[-1]) and all("lpips" not in r for r in rows)
    assert list_checkpoints(out) and (out / "generator.safetensors").is_file()
    err = [line for line in capsys.readouterr().err.splitlines() if "LPIPS" in line]
    assert len(err) == 1 and "vgg16_features.safetensors is missing" in err[0] and "setup_weights" in err[0]
    # compress's closing student / teacher evaluation builds its LPIPS the same way: left out, in one line
    assert REAL_BUILD_LPIPS("auto") is None and REAL_BUILD_LPIPS("none") is None
    assert capsys.readouterr().err.count("\n") == 1
    net, why = sr_task.resolve_lpips_net("auto")  # what sr_eval.json records as the network that ran
    assert net == "none" and "vgg16_features.safetensors is missing" in why
    assert sr_task.resolve_lpips_net("alexnet") == ("alexnet", None)


@pytest.mark.parametrize("key", ["sr.eval_lpips_net", "sr.distill.eval_lpips_net"])
def test_asking_for_lpips_without_its_weights_fails_before_training(tmp_path, no_lpips_weights, key):
    kw = {key: "alexnet"}
    if key.startswith("sr.distill"):
        kw = {**kw, "sr.distill.method": "kd", "sr.distill.teacher": str(tmp_path / "teacher")}
    with pytest.raises(UserError, match=rf"{key}=alexnet asks for LPIPS.*alexnet_features.safetensors is missing.*"
                                        rf"setup_weights.*{key}=auto"):
        Trainer(sr_config(tmp_path / "r", **kw), dataset=photos())
    assert not list((tmp_path / "r").glob("ckpt-*"))


class Recorder(nn.Module):
    """A tiny feature extractor (mean colour and its spread per crop) that records the weights it was built with."""

    built: ClassVar[list] = []

    def __init__(self, weights=None) -> None:
        super().__init__()
        Recorder.built.append(weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean((2, 3)), x.std((2, 3))], 1)


@pytest.fixture
def tiny_extractor():
    from ganforge.metrics.features.registry import register_extractor, unregister_extractor

    Recorder.built = []
    register_extractor("sr-test-stats", Recorder, overwrite=True)
    yield "sr-test-stats"
    unregister_extractor("sr-test-stats")


@pytest.mark.parametrize("metric", ["fid_crops@sr-test-stats", "fid_crops"])
def test_fid_on_crops_in_the_evaluation_selects_the_best_checkpoint(tmp_path, tiny_extractor, metric):
    out = tmp_path / "r"
    cfg = sr_config(out, metrics=["psnr", metric], best_metric=metric, metrics_features=tiny_extractor,
                    metrics_weights=str(tmp_path / "w.pt"), **{"sr.eval_fid_patch": 16, "sr.eval_lpips_net": "none"})
    t = Trainer(cfg, dataset=photos())
    t.train()
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) >= 2 and all(r[metric] > 0 and "psnr" in r for r in rows)
    assert t.best == {"metric": metric, "value": min(r[metric] for r in rows),
                      "kimg": min(rows, key=lambda r: r[metric])["kimg"]}
    assert Recorder.built and set(Recorder.built) == {str(tmp_path / "w.pt")}  # metrics_weights reached it
    G = t.G_ema  # 32 px pairs in 16 px crops: 2 pairs give 8 crops, scored against the HR crops
    sr, hr = t.task.upscale(G, t.task.eval_lr), t.task.eval_hr
    assert t.task.evaluate(G, [metric])[metric] == pytest.approx(fid_on_crops(sr, hr, 16, tiny_extractor), rel=1e-5)
    assert metric not in t.task.evaluate(G, ["psnr"])  # only the metrics asked for
    assert fid_on_crops(hr, hr, 16, tiny_extractor) == pytest.approx(0, abs=1e-3)


@pytest.mark.parametrize("metric, message", [("fid@vgg16", "not available for task=sr"),
                                             ("psnr@vgg16", "not available for task=sr"),
                                             ("fid_crops@nope", "no feature extractor nope"),
                                             ("fid_crops@classifier-mnist", "trained on handwritten digits alone: "
                                              "its FID on photo crops means nothing; use vgg16")])
def test_sr_metrics_are_checked_when_built(tmp_path, metric, message):
    with pytest.raises(ConfigError, match=message):
        check_metrics(sr_config(tmp_path / "r", metrics=["psnr", metric]))


def test_fid_on_crops_without_inception_weights_fails_before_training(tmp_path, no_lpips_weights):
    with pytest.raises(UserError, match=r"fid_crops\] needs the inception feature extractor: FID Inception-v3 "
                                        r"weights .* not found .*fid_crops@vgg16"):
        Trainer(sr_config(tmp_path / "r", metrics=["fid_crops"]), dataset=photos())
    assert not list((tmp_path / "r").glob("ckpt-*"))
    with pytest.raises(ConfigError, match=r"sr\.eval_fid_patch 64 is larger than .*sr\.crop 32\); set "):
        check_metrics(sr_config(tmp_path / "r", metrics=["fid_crops@vgg16"], **{"sr.eval_fid_patch": 64}))
    check_metrics(sr_config(tmp_path / "r", **{"sr.eval_fid_patch": 64}))  # no FID asked for: no limit
