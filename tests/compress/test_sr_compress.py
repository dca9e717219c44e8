"""`ganforge compress` on super-resolution teachers: kd and SDAKD students trained by the one task=sr loop, with the
teacher frozen, SDAKD's stage-2 critic matching, an output run that upscale / report / resume take, an evaluation
JSON for student and teacher, and bad input refused in one line."""

import hashlib
import json

import pytest
import torch
from PIL import Image
from torch import nn

from ganforge.cli.main import main
from ganforge.compress import sr_distill
from ganforge.compress.sr_distill import compress_sr, sr_compress_config
from ganforge.data.sr_pairs import HRImages
from ganforge.losses import sr as L
from ganforge.networks.sr import SRDiscConfig, SRNetConfig, build_sr_generator, load_sr
from ganforge.training import Trainer, get_preset, sr_task
from ganforge.training.checkpoint import list_checkpoints, read_tensors


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


def small_vgg(name, weights=None):
    """A narrow random VGG in place of the ImageNet trunk: no weights are read."""
    return L.PerceptualLoss(L.make_vgg(name, 16), L.layer_weights(name))


@pytest.fixture(autouse=True)
def small_perceptual(monkeypatch):
    monkeypatch.setattr(sr_task, "build_perceptual", small_vgg)
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
    sr = t.G(lr).detach()
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
    for who in ("student", "teacher"):
        assert {"psnr", "ssim", "lpips", "params"} <= set(saved[who]) and 0 < saved[who]["ssim"] <= 1
    assert saved["student"]["params"] < saved["teacher"]["params"]
    G = load_sr(run_dir / "generator.safetensors")
    assert G.cfg.num_feat == 4
    config = json.loads((run_dir / "config.json").read_text())
    assert config["sr"]["distill"]["method"] == "kd" and config["sr"]["net"]["num_feat"] == 4
    log = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert any(r.get("event") == "compress" and r["method"] == "kd" for r in log)
    assert any("L_KD" in r for r in log)
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
    assert "not a super-resolution compression run" in err and len(err.splitlines()) == 1
