"""`ganforge compress` on super-resolution teachers: kd and SDAKD students trained by the one task=sr loop, with the
teacher frozen, SDAKD's stage-2 critic matching and L_MLP feature MLP (optimised with G, checkpointed, resumed
exactly), an output run that upscale / report / resume take, an evaluation JSON for student and teacher written by
rank 0 alone, and bad input refused in one line."""

import hashlib
import json

import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from ganforge.cli.main import main
from ganforge.compress import sr_distill
from ganforge.compress.sr_distill import compress_sr, sr_compress_config
from ganforge.compress.sr_student import distill_feature_layer
from ganforge.data.sr_pairs import HRImages
from ganforge.losses import sr as L
from ganforge.networks.sr import SRDiscConfig, SRNetConfig, build_sr_generator, load_sr
from ganforge.training import Trainer, get_preset, sr_task
from ganforge.training import trainer as trainer_module
from ganforge.training.checkpoint import CheckpointError, list_checkpoints, read_tensors
from ganforge.training.distributed import DistInfo


class L1Metric(nn.Module):
    """A stand-in for LPIPS (no backbone weights are read): mean |x - y| per image."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (x - y).abs().mean((1, 2, 3))


def photos(n: int = 2, side: int = 48) -> HRImages:
    g = torch.Generator().manual_seed(1)
    imgs = [torch.randint(0, 256, (3, side, side + 8), generator=g, dtype=torch.uint8) for _ in range(n)]
    return HRImages(imgs, [f"{i}.png" for i in range(n)], "random", "test")


def params(m: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().clone() for p in m.parameters()])


def count(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def digest(path) -> str:
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(path.rglob("*.safetensors")))).hexdigest()


def small_vgg(name, weights=None, precision="fp32"):
    """A narrow random VGG in place of the ImageNet trunk: no weights are read."""
    return L.PerceptualLoss(L.make_vgg(name, 16), L.layer_weights(name), precision)


@pytest.fixture(autouse=True)
def small_perceptual(monkeypatch):
    monkeypatch.setattr(sr_task, "build_perceptual", small_vgg)
    monkeypatch.setattr(sr_task, "build_lpips", lambda net: L1Metric())
    monkeypatch.setattr(sr_distill, "build_lpips", lambda net: L1Metric())


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    """A tiny SRVGG x4 teacher run (8 features, 2 convs, D 8 wide) after 2 ESRGAN steps on 32 px crops (so its D
    was trained too)."""
    cfg = get_preset("sr-tiny")
    cfg.out = str(tmp_path_factory.mktemp("sr") / "teacher")
    cfg.device, cfg.batch_size, cfg.kimg = "cpu", 2, 0.004
    cfg.sr.net, cfg.sr.disc = SRNetConfig(num_feat=8, num_conv=2), SRDiscConfig(num_feat=8)
    cfg.sr.degradation, cfg.sr.eval_pairs = "bicubic", 2
    cfg.log_every_kimg = cfg.snapshot_every_kimg = cfg.metrics_every_kimg = 0.002
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sr_task, "build_perceptual", small_vgg)
        mp.setattr(sr_task, "build_lpips", lambda net: L1Metric())
        return Trainer(cfg, dataset=photos()).train()


def student_config(teacher_path, out, method="sdakd", fraction=0.5, kimg=0.008, **distill):
    cfg = sr_compress_config(str(teacher_path), method, fraction, str(out))
    cfg.kimg, cfg.log_every_kimg, cfg.snapshot_every_kimg = kimg, 0.002, 0.004
    for k, v in distill.items():
        setattr(cfg.sr.distill, k, v)
    return cfg


def test_student_config_widths_and_parameter_ratio(teacher, tmp_path):
    cfg = student_config(teacher, tmp_path / "s", fraction=0.5)
    assert cfg.task == "sr" and cfg.sr.stage == "esrgan" and cfg.sr.weights() == (1.0, 1.0, 0.1)
    assert (cfg.sr.net.num_feat, cfg.sr.net.num_conv, cfg.sr.disc.num_feat) == (4, 2, 4)
    assert (cfg.sr.distill.method, cfg.sr.distill.fraction) == ("sdakd", 0.5)
    assert cfg.sr.crop == 32 and cfg.batch_size == 2  # the teacher's recipe is kept
    t = Trainer(cfg, dataset=photos())
    G_T = t.task.distiller.teacher.G
    assert t.G.body[0].out_channels == 4 and G_T.body[0].out_channels == 8
    assert t.D.conv0.out_channels == 4
    # SRVGG: most weights are feat x feat convolutions, so the ratio lies between C^2 and C
    ratio = count(t.G) / count(G_T)
    assert 0.25 < ratio < 0.5 and count(t.G) == count(build_sr_generator(cfg.sr.net))


def test_sdakd_stages_train_the_students_and_never_the_teacher(teacher, tmp_path):
    before = digest(teacher)
    t = Trainer(student_config(teacher, tmp_path / "s", kimg=0.008, stage2_kimg=0.004), dataset=photos())
    G_T, D_T = t.task.distiller.teacher.G, t.task.distiller.teacher.D
    g_t, d_t = params(G_T), params(D_T)
    g0, d0 = params(t.G), params(t.D)
    stage2 = [t.train_step() for _ in range(2)]
    d1 = params(t.D)
    stage3 = [t.train_step() for _ in range(2)]
    for terms in stage2:  # Eq. 1 for G (no GAN term), Eq. 2 for D
        assert terms["sdakd_stage"] == 2.0 and "L_GAN" not in terms and {"L_KD", "L_percep"} <= set(terms)
        assert {"L_D_match", "D_match_corr", "D_match_sign"} <= set(terms)
    for terms in stage3:  # Eq. 3 for G, Eq. 4 for D
        assert terms["sdakd_stage"] == 3.0 and {"L_GAN", "L_KD", "D_real"} <= set(terms)
        assert "L_D_match" not in terms
    assert not torch.equal(g0, params(t.G)) and not torch.equal(d0, d1) and not torch.equal(d1, params(t.D))
    assert torch.equal(g_t, params(G_T)) and torch.equal(d_t, params(D_T))
    assert not any(p.requires_grad for p in [*G_T.parameters(), *D_T.parameters()])
    assert digest(teacher) == before
    saved = read_tensors(list_checkpoints(teacher)[-1], "G_ema")
    assert all(torch.equal(v, saved[k]) for k, v in G_T.state_dict().items())


def test_stage2_d_agreement_improves_on_a_fixed_batch(teacher, tmp_path):
    t = Trainer(student_config(teacher, tmp_path / "s"), dataset=photos())
    distiller = t.task.distiller
    t.task.next_batch()
    lr, hr = t.task.next_batch()
    sr = distiller.student_forward(t.G, lr).detach()  # with the student features L_MLP reads
    distiller.generator_term(lr, sr)
    opt = torch.optim.Adam(t.D.parameters(), lr=3e-3)
    history = []
    for _ in range(40):
        loss, terms = distiller.discriminator_loss(t.D, hr, sr)
        history.append(terms)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert history[-1]["L_D_match"] < 0.5 * history[0]["L_D_match"]
    assert history[-1]["D_match_corr"] > history[0]["D_match_corr"] + 0.2


def test_weights_file_teacher_has_no_d_stage(tmp_path):
    """An official-format .pth holds only G: stage 2 leaves D_S at its random init; stage 3 trains it."""
    torch.manual_seed(0)
    G = build_sr_generator(SRNetConfig(num_feat=8, num_conv=2))
    torch.save({"params_ema": G.state_dict()}, tmp_path / "teacher.pth")
    cfg = student_config(tmp_path / "teacher.pth", tmp_path / "s", method="sdakd", fraction=0.25)
    assert (cfg.sr.net.num_feat, cfg.sr.disc.num_feat) == (2, 2)
    cfg.sr.crop, cfg.batch_size, cfg.sr.degradation, cfg.sr.eval_pairs = 32, 2, "bicubic", 2
    t = Trainer(cfg, dataset=photos())
    assert t.task.distiller.teacher.D is None and "a generator weights file" in t.task.distiller.note
    d0 = params(t.D)
    t.train_step(), t.train_step()
    assert not t.task.adversarial and torch.equal(d0, params(t.D))
    terms = t.train_step()
    assert terms["sdakd_stage"] == 3.0 and "L_GAN" in terms and not torch.equal(d0, params(t.D))


def test_python_api_run_evaluates_student_and_teacher_and_resumes(teacher, tmp_path):
    cfg = student_config(teacher, tmp_path / "s", method="kd", kimg=0.004)
    run_dir, result = compress_sr(cfg, dataset=photos())
    saved = json.loads((run_dir / "sr_eval.json").read_text())
    assert saved == json.loads(json.dumps(result)) and saved["method"] == "kd" and saved["pairs"] == 2
    assert saved["lpips_net"] == sr_task.resolve_lpips_net("auto")[0]  # the network that ran, never "auto"
    for who in ("student", "teacher"):
        assert {"psnr", "ssim", "lpips", "params"} <= set(saved[who]) and 0 < saved[who]["ssim"] <= 1
    assert saved["student"]["params"] < saved["teacher"]["params"]
    G = load_sr(run_dir / "generator.safetensors")
    assert G.cfg.num_feat == 4
    config = json.loads((run_dir / "config.json").read_text())
    assert config["sr"]["distill"]["method"] == "kd" and config["sr"]["net"]["num_feat"] == 4
    log = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert any(r.get("event") == "compress" and r["method"] == "kd" for r in log)
    assert any("L_KD" in r for r in log) and not any("L_MLP" in r for r in log)  # L_MLP is SDAKD's
    cfg.kimg = 0.008
    _, again = compress_sr(cfg, dataset=photos(), resume=True)
    assert again["kimg"] == pytest.approx(0.008)
    log = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert any(r.get("event") == "compress" and r["resumed_at_kimg"] == pytest.approx(0.004) for r in log)


@pytest.mark.parametrize("method", ["kd", "sdakd"])
def test_cli_student_run_upscales_and_reports(teacher, tmp_path, capsys, method):
    out = tmp_path / method
    assert main(["compress", "--teacher", str(teacher), "--method", method, "--fraction", "0.5", "--out", str(out),
                 "--kimg", "0.004", "--device", "cpu", "sr.distill.stage2_kimg=0.002"]) == 0
    printed = capsys.readouterr().out
    assert f"{method} SR student (C=0.5, num_feat 4, D num_feat 4)" in printed and "sr_eval.json" in printed
    result = json.loads((out / "sr_eval.json").read_text())
    assert result["method"] == method and result["student"]["params"] < result["teacher"]["params"]
    Image.fromarray(torch.randint(0, 256, (12, 10, 3), dtype=torch.uint8).numpy()).save(tmp_path / "in.png")
    assert main(["upscale", str(tmp_path / "in.png"), str(tmp_path / "x4.png"), "--weights", str(out)]) == 0
    assert Image.open(tmp_path / "x4.png").size == (40, 48)  # the run directory stands for its EMA generator
    assert main(["report", str(teacher), str(out), "--lr-sizes", "8", "--warmup", "0", "--repeats", "1",
                 "--json", str(tmp_path / "r.json")]) == 0
    rows = json.loads((tmp_path / "r.json").read_text())
    assert [r["num_feat"] for r in rows["rows"]] == [8, 4]


@pytest.mark.parametrize(("extra", "fragment"), [
    (["--fraction", "0"], "--fraction must be in (0, 1]"),
    (["--fraction", "1.5"], "--fraction must be in (0, 1]"),
    (["--method", "nickel-dime"], "--method nickel-dime does not apply to super-resolution"),
    (["--init", "teacher"], "--init: GAN compression options"),
    (["sr.distill.d_match=loose"], "sr.distill.d_match"),
])
def test_cli_bad_sr_input_is_one_line_exit_2(teacher, tmp_path, capsys, extra, fragment):
    assert main(["compress", "--teacher", str(teacher), "--out", str(tmp_path / "o"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("extra", [["--teacher-d", "netD.pth"], ["sr.crop=64"]])
def test_cli_gan_teacher_with_sr_options_is_one_line_exit_2(tmp_path, capsys, extra):
    (tmp_path / "gan").mkdir()
    assert main(["compress", "--teacher", str(tmp_path / "gan"), "--out", str(tmp_path / "o"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert "apply to super-resolution teachers only" in err and len(err.splitlines()) == 1


def test_cli_resume_of_a_non_compression_run_is_refused(teacher, tmp_path, capsys):
    assert main(["compress", "--resume", str(teacher)]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a compression run" in err and "ganforge train --resume" in err and len(err.splitlines()) == 1


def feature_inputs(G: nn.Module) -> dict[str, torch.Tensor]:
    """Records the input of G's last convolution (RRDBNet conv_last, SRVGG body[-1]) at every forward pass."""
    seen: dict[str, torch.Tensor] = {}
    layer = G.conv_last if G.cfg.arch == "rrdb" else G.body[-1]
    layer.register_forward_pre_hook(lambda m, args: seen.update(x=args[0].detach()))
    return seen


def test_sdakd_l_mlp_distils_the_last_features_through_the_mlp(teacher, tmp_path):
    t = Trainer(student_config(teacher, tmp_path / "s", kimg=0.008, stage2_kimg=0.004), dataset=photos())
    mlp, G_T = t.task.distiller.mlp, t.task.distiller.teacher.G
    assert t.g_modules == {"G_mlp": mlp} and (mlp.in_channels, mlp.out_channels) == (4, 8)  # C x 8 -> 8
    assert [id(p) for p in t.opt_G.param_groups[1]["params"]] == [id(p) for p in mlp.parameters()]
    student, teacher_feats = feature_inputs(t.G), feature_inputs(G_T)
    loss, terms, _ = t.task.generator_loss(t.G, t.D, *t.task.next_batch())
    expected = F.mse_loss(mlp(student["x"]), teacher_feats["x"])  # SDAKD Sec. 3.2 on the last feature maps
    assert terms["L_MLP"] == pytest.approx(expected.item(), rel=1e-5)
    # SDAKD Eq. 1 with lambda1 = 1: every term at weight 1 in stage 2
    assert loss.item() == pytest.approx(terms["L1"] + terms["L_percep"] + terms["L_KD"] + terms["L_MLP"], rel=1e-5)
    m0 = params(mlp)
    for stage in (2.0, 3.0, 3.0):  # the first batch went to the check above
        terms = t.train_step()
        assert terms["sdakd_stage"] == stage and terms["nonfinite"] is None and 0 < terms["L_MLP"] < float("inf")
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in mlp.parameters())
    assert not torch.equal(m0, params(mlp))


def test_rrdb_student_distils_the_conv_last_input(tmp_path):
    torch.manual_seed(0)
    G = build_sr_generator(SRNetConfig(arch="rrdb", num_feat=8, num_block=1, num_grow_ch=4))
    torch.save({"params_ema": G.state_dict()}, tmp_path / "teacher.pth")
    cfg = student_config(tmp_path / "teacher.pth", tmp_path / "s", fraction=0.5)
    cfg.sr.crop, cfg.batch_size, cfg.sr.degradation, cfg.sr.eval_pairs = 32, 2, "bicubic", 2
    t = Trainer(cfg, dataset=photos())
    assert distill_feature_layer(t.G) is t.G.conv_last and t.task.distiller.mlp.in_channels == 4
    student, teacher_feats = feature_inputs(t.G), feature_inputs(t.task.distiller.teacher.G)
    terms = t.train_step()
    assert student["x"].shape == (2, 4, 32, 32) and teacher_feats["x"].shape == (2, 8, 32, 32)  # output resolution
    assert terms["nonfinite"] is None and terms["L_MLP"] > 0


def test_feature_mlp_resumes_exactly(teacher, tmp_path):
    def run(out, kimg, resume=False):
        t = Trainer(student_config(teacher, out, kimg=kimg, stage2_kimg=0.004), dataset=photos(), resume=resume)
        t.train()
        return t

    straight = run(tmp_path / "a", 0.008)
    first = run(tmp_path / "b", 0.004)
    assert (list_checkpoints(tmp_path / "b")[-1] / "G_mlp.safetensors").is_file()
    resumed = Trainer(student_config(teacher, tmp_path / "b", kimg=0.008, stage2_kimg=0.004), dataset=photos(),
                      resume=True)
    mlp = resumed.task.distiller.mlp
    assert torch.equal(params(mlp), params(first.task.distiller.mlp))
    for p, q in zip(mlp.parameters(), first.task.distiller.mlp.parameters(), strict=True):
        assert torch.equal(resumed.opt_G.state[p]["exp_avg_sq"], first.opt_G.state[q]["exp_avg_sq"])
    resumed.train()
    for name in ("G", "G_ema", "D"):
        assert torch.equal(params(getattr(resumed, name)), params(getattr(straight, name))), name
    assert torch.equal(params(mlp), params(straight.task.distiller.mlp))


def test_mlp_weight_0_leaves_it_out_and_a_checkpoint_without_it_says_how_to_resume(teacher, tmp_path):
    cfg = student_config(teacher, tmp_path / "s", kimg=0.004, mlp_weight=0.0)
    t = Trainer(cfg, dataset=photos())
    assert t.g_modules == {} and "L_MLP" not in t.train_step()
    t.train()
    with pytest.raises(CheckpointError, match=r"without SDAKD's feature MLP.*sr\.distill\.mlp_weight=0"):
        Trainer(student_config(teacher, tmp_path / "s", kimg=0.008), dataset=photos(), resume=True)
    resumed = Trainer(student_config(teacher, tmp_path / "s", kimg=0.008, mlp_weight=0.0), dataset=photos(),
                      resume=True)
    assert resumed.cur_nimg == 4


def test_only_rank_0_evaluates_and_writes_sr_eval(teacher, tmp_path, monkeypatch):
    """Rank 1 of two processes (collectives stubbed) trains, then skips the periodic and the final evaluation."""
    monkeypatch.setattr(trainer_module, "init_distributed", lambda device: DistInfo(rank=1, world_size=2))
    for collective in ("all_reduce", "barrier"):
        monkeypatch.setattr(torch.distributed, collective, lambda *a, **k: None)
    monkeypatch.setattr(sr_task.SRTask, "evaluate", lambda *a: pytest.fail("rank 1 ran the periodic evaluation"))
    monkeypatch.setattr(sr_distill, "evaluate_sr", lambda *a: pytest.fail("rank 1 ran the final evaluation"))
    cfg = student_config(teacher, tmp_path / "s", method="kd", kimg=0.004)
    assert cfg.metrics
    run_dir, result = compress_sr(cfg, dataset=photos())
    assert result == {} and not (run_dir / "sr_eval.json").exists()
