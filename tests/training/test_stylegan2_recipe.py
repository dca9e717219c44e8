"""The StyleGAN2-ADA recipe in the one training loop: path length (StyleGAN2 Eq. 4) with its running mean in the
checkpoints, style mixing while training only, EMA ramp-up, R1 only with the StyleGAN D, the sg2-* presets."""

import copy
import math

import pytest
import torch
from helpers import tiny_dataset

from ganforge.cli.main import main
from ganforge.data import DatasetError
from ganforge.losses import get_loss
from ganforge.networks import make_networks
from ganforge.training import Trainer, get_preset
from ganforge.training.overrides import ConfigError, apply_overrides
from ganforge.training.presets import sg2_auto
from ganforge.training.schedules import Cosine, EMAHalfLife, ema_beta
from ganforge.training.steps import discriminator_loss
from ganforge.training.stylegan_recipe import PathLength, StyleMixing, path_length_penalty, shared_noise
from ganforge.training.validate import check_data_matches


def sg2_config(out, **kw):
    """sg2-cpu with a few hundred parameters per layer: 32x32, w 16, 16 channels at most."""
    cfg = get_preset("sg2-cpu")
    cfg.net.z_dim = 8
    cfg.net.arch_kwargs.update(w_dim=16, channel_base=64, channel_max=16)
    cfg.out, cfg.batch_size, cfg.kimg, cfg.grid_size = str(out), 8, 0.04, 4
    cfg.log_every_kimg, cfg.snapshot_every_kimg = 0.008, 1000.0
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


def sg2_networks():
    torch.manual_seed(0)
    return make_networks(sg2_config("unused").net)


def test_path_length_penalty_value_and_gradient_match_a_direct_computation():
    """A linear synthesis img = A ws has J_w^T y = A^T y in closed form: the penalty, the running mean and the
    gradient with respect to A (through the double backward) match the closed form."""
    torch.manual_seed(0)
    n, k, w, c, h = 3, 4, 5, 2, 3
    A = torch.randn(k, w, c * h * h, requires_grad=True)
    ws = torch.randn(n, k, w, requires_grad=True)
    img = torch.einsum("kwp,nkw->np", A, ws).view(n, c, h, h)
    a = torch.tensor(0.3)
    torch.manual_seed(1)
    penalty, mean = path_length_penalty(img, ws, a, decay=0.01)
    torch.manual_seed(1)
    y = torch.randn(n, c, h, h) / math.sqrt(h * h)
    jty = torch.einsum("kwp,np->nkw", A, y.flatten(1))
    lengths = jty.square().sum(2).mean(1).sqrt()
    direct_mean = a + 0.01 * (lengths.mean() - a)
    direct = (lengths - direct_mean).square()
    torch.testing.assert_close(penalty, direct)
    torch.testing.assert_close(mean, direct_mean)
    (grad,) = torch.autograd.grad(penalty.mean(), A)
    (grad_direct,) = torch.autograd.grad(direct.mean(), A)
    assert grad.abs().sum() > 0
    torch.testing.assert_close(grad, grad_direct)


def test_path_length_is_lazy_weighted_and_reaches_g():
    G, _ = sg2_networks()
    pl = PathLength(weight=2.0, decay=0.01, batch_shrink=2, every=4, mixing=StyleMixing(0.0),
                    device=torch.device("cpu"))
    z = torch.randn(8, 8)
    loss, terms = pl(G, z, None, step=0)
    assert loss.item() == pytest.approx(2.0 * 4 * terms["PL"], rel=1e-5)  # weight x interval
    assert float(pl.pl_mean) == pytest.approx(terms["pl_mean"]) and terms["pl_mean"] > 0
    loss.backward()
    assert G.synthesis.b8.conv0.weight.grad.abs().sum() > 0 and G.mapping.fc0.weight.grad.abs().sum() > 0
    before = float(pl.pl_mean)
    assert pl(G, z, None, step=3) == (0.0, terms) and float(pl.pl_mean) == before  # lazy: last values logged


def test_pl_mean_updates_every_4_steps_and_survives_resume(tmp_path):
    data = tiny_dataset(32)
    t = Trainer(sg2_config(tmp_path / "r"), dataset=data)
    pl = t.stylegan.path_length
    means = []
    for _ in range(6):
        terms = t.train_step()
        means.append(float(pl.pl_mean))
        assert terms["pl_mean"] == pytest.approx(means[-1]) and math.isfinite(terms["PL"])
    assert means[0] > 0 and means[0] == means[1] == means[2] == means[3] != means[4] == means[5]
    t.save_checkpoint()
    resumed = Trainer(sg2_config(tmp_path / "r"), dataset=data, resume=True)
    assert resumed.step == 6 and float(resumed.stylegan.path_length.pl_mean) == means[-1]


def test_style_mixing_replaces_ws_after_a_cutoff_and_prob_0_leaves_them():
    G, _ = sg2_networks()
    z = torch.randn(4, 8)
    plain = G.mapping(z, None, skip_w_avg_update=True)
    mixing = StyleMixing(prob=1.0)
    cutoffs = set()
    for _ in range(8):
        with mixing(G) as captured:
            G(z)
        ws = captured[0]
        same = (ws == plain).all(dim=2).all(dim=0)  # per w index
        cutoff = int(same.sum())
        assert 1 <= cutoff < G.num_ws and same[:cutoff].all() and not same[cutoff:].any()
        cutoffs.add(cutoff)
    assert len(cutoffs) > 1  # the cutoff is drawn
    with StyleMixing(prob=0.0)(G) as captured:
        G(z)
    assert torch.equal(captured[0], plain)
    assert not G.mapping._forward_hooks  # outside training passes G is untouched (sampling, evaluation)


def test_the_self_distillation_teacher_sees_the_same_mixed_styles():
    G, _ = sg2_networks()
    G.noise_mode = "const"
    teacher = copy.deepcopy(G).eval()
    z = torch.randn(4, 8)
    mixing = StyleMixing(prob=1.0)
    with torch.no_grad(), mixing(G, teacher=teacher):
        student_img, teacher_img = G(z), teacher(z)
    torch.testing.assert_close(student_img, teacher_img)  # training mode runs the modulated convs unfused
    with torch.no_grad():
        assert not torch.allclose(teacher(z), student_img, atol=1e-3)  # without the replay it would not mix


def test_ema_rampup_beta_is_the_official_formula():
    batch, ema_kimg, rampup = 32, 10.0, 0.05
    halflife = EMAHalfLife(Cosine(ema_kimg * 1000, ema_kimg * 1000, 0), rampup)
    for cur_nimg in (0, 32, 3200, 100_000, 199_968, 200_000, 10_000_000):
        official = 0.5 ** (batch / max(min(ema_kimg * 1000, cur_nimg * rampup), 1e-8))
        assert ema_beta(batch, halflife(cur_nimg)) == pytest.approx(official, abs=1e-12)
    no_ramp = EMAHalfLife(Cosine(0.0, 500_000.0, 2000), 0.0)  # the default: the R3GAN schedule unchanged
    assert [no_ramp(n) for n in (0, 1e6, 3e6)] == [Cosine(0.0, 500_000.0, 2000)(n) for n in (0, 1e6, 3e6)]


def test_r1_only_with_the_stylegan_d_is_r1_alone():
    """r2=false: R2 is exactly 0 and the D gradient is NS loss + gamma/2 R1 computed directly. Reals and fakes go
    through StyleGAN's D separately: in one joint pass its minibatch-std would group reals with fakes."""
    _, D = sg2_networks()
    real, fake = torch.rand(8, 3, 32, 32) * 2 - 1, torch.rand(8, 3, 32, 32) * 2 - 1
    D.b4.conv.weight.data.mul_(5)  # a D that does not start near-constant
    loss_d = get_loss("nsgan")[0]
    loss, terms, _, _ = discriminator_loss(D, real, fake, None, loss_d, 0.5, True, False, joint=False)
    assert terms["R2"] == 0.0 and terms["R1"] > 0
    grads = torch.autograd.grad(loss, list(D.parameters()))
    x = real.clone().requires_grad_(True)
    real_logits = D(x)
    (g,) = torch.autograd.grad(real_logits.sum(), x, create_graph=True)
    direct = loss_d(real_logits, D(fake)).mean() + 0.5 / 2 * g.square().flatten(1).sum(1).mean()
    for a, b in zip(grads, torch.autograd.grad(direct, list(D.parameters()))):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)
    _, joint_terms, _, _ = discriminator_loss(D, real, fake, None, loss_d, 0.5, True, False, joint=True)
    assert joint_terms["R2"] > 0  # what the separate passes avoid


def test_presets_are_the_official_specs():
    paper, cifar, auto = get_preset("sg2-paper256"), get_preset("sg2-cifar"), get_preset("sg2-auto")
    for cfg in (paper, cifar, auto, get_preset("sg2-cpu")):
        assert cfg.net.arch == "stylegan2" and cfg.loss.name == "nsgan" and (cfg.loss.r1, cfg.loss.r2) == (True, False)
        assert (cfg.loss.r_every, cfg.loss.pl_every, cfg.schedule.beta2_end) == (16, 4, 0.99)
        assert (cfg.augment.kind, cfg.augment.preset, cfg.augment.ada_target) == ("ada", "bgc", 0.6)
    assert (paper.batch_size, paper.schedule.gamma_end, paper.schedule.ema_halflife_kimg_end) == (64, 1.0, 20)
    assert paper.schedule.ema_rampup == 0.0 and paper.net.arch_kwargs["channel_base"] == 16384
    assert (paper.loss.pl_weight, paper.loss.style_mixing) == (2.0, 0.9)
    assert (cifar.loss.pl_weight, cifar.loss.style_mixing, cifar.net.arch_kwargs["d_architecture"]) == (0, 0, "orig")
    assert (cifar.schedule.gamma_end, cifar.schedule.ema_halflife_kimg_end, cifar.schedule.ema_rampup) == (
        0.01, 500, 0.05)
    for res, batch, gamma, ema, lr, base in ((256, 16, 0.8192, 5, 0.0025, 16384), (128, 32, 0.1024, 10, 0.0025, 16384),
                                             (1024, 4, 52.4288, 1.25, 0.002, 32768)):
        cfg = get_preset(f"sg2-auto-{res}")
        assert (cfg.batch_size, cfg.net.arch_kwargs["mbstd_group_size"], cfg.net.arch_kwargs["channel_base"]) == (
            batch, min(batch, 4), base)
        assert cfg.schedule.gamma_end == pytest.approx(gamma) and cfg.schedule.ema_halflife_kimg_end == ema
        assert cfg.schedule.lr_end == lr and cfg.net.resolution == res
    assert sg2_auto(256, gpus=8).batch_size == 64  # the official formula with 8 GPUs
    assert get_preset("sg2-auto-256").net == auto.net
    with pytest.raises(KeyError, match="sg2-auto-RES"):
        get_preset("sg2-auto-100")


def test_sg2_cpu_rpgan_changes_only_the_loss_and_its_penalties():
    """sg2-cpu-rpgan is sg2-cpu with R3GAN's RpGAN + R1 + R2 (gamma 1, every 4th D step): the measured fix for the
    official loss collapsing at CPU widths (docs/stylegan2.md)."""
    from ganforge.training.config import to_dict

    measured = apply_overrides(get_preset("sg2-cpu"), ["loss.name=rpgan", "loss.r2=true", "loss.r_every=4",
                                                       "schedule.gamma_start=1", "schedule.gamma_end=1"])
    assert {**to_dict(measured), "preset": "sg2-cpu-rpgan"} == to_dict(get_preset("sg2-cpu-rpgan"))


def test_a_stylegan_resolution_mismatch_names_the_auto_preset():
    with pytest.raises(DatasetError, match="--preset sg2-auto-32"):
        check_data_matches(get_preset("sg2-auto"), tiny_dataset(4))


def test_sg2_cpu_trains_two_steps(tmp_path):
    cfg = get_preset("sg2-cpu")
    cfg.out, cfg.batch_size, cfg.kimg, cfg.grid_size = str(tmp_path / "cpu"), 8, 0.016, 4
    cfg.log_every_kimg, cfg.snapshot_every_kimg = 0.008, 1000.0
    t = Trainer(cfg, dataset=tiny_dataset(32))
    t.train()
    assert t.step == 2 and (tmp_path / "cpu" / "generator.safetensors").is_file()
    assert not t.G.mapping._forward_hooks and not t.G_ema.mapping._forward_hooks


def test_self_distillation_runs_on_stylegan2(tmp_path):
    cfg = sg2_config(tmp_path / "sd", self_distill=True)
    cfg.sd.distance = "l1"
    terms = Trainer(cfg, dataset=tiny_dataset(32)).train_step()
    assert math.isfinite(terms["L_SD"]) and terms["L_SD"] > 0 and terms["nonfinite"] is None


@pytest.mark.parametrize("item", ["loss.pl_weight=2", "loss.style_mixing=0.9"])
def test_the_stylegan_recipe_on_r3gan_is_a_clear_config_error(item, capsys):
    with pytest.raises(ConfigError, match=r"net\.arch=r3gan"):
        apply_overrides(get_preset("tiny"), [item])
    assert main(["train", "--dry-run", item]) == 2
    err = capsys.readouterr().err.strip()
    assert "mapping and a synthesis network" in err and len(err.splitlines()) == 1


def test_the_self_distillation_teacher_draws_the_students_noise():
    """SD-GAN's L_SD compares two generators: an eval-mode G_ema replays G's per-layer noise, and the global
    random stream continues as if the teacher had drawn nothing."""
    G, _ = sg2_networks()
    for name, p in G.named_parameters():
        if name.endswith("noise_strength"):
            p.data.fill_(0.5)  # zero at init, which would hide the noise
    teacher = copy.deepcopy(G).eval()
    z = torch.randn(4, 8)
    with torch.no_grad():
        assert not torch.allclose(G(z), teacher(z), atol=1e-3)  # random vs constant noise
        torch.manual_seed(5)
        with shared_noise(G, teacher):
            student_img, teacher_img = G(z), teacher(z)
        after = torch.rand(3)
        torch.manual_seed(5)
        G(z)
        assert torch.equal(after, torch.rand(3))
    torch.testing.assert_close(student_img, teacher_img)
    assert teacher.noise_mode is None  # restored
