"""SD-GAN analyses: trajectory variation across checkpoints (Table 3) and the L_SD x D quadrants (Figs. 6, 8)."""

from __future__ import annotations

import itertools
import json
import shutil

import pytest
import torch
from helpers import tiny_dataset, tiny_train_config
from PIL import Image

from ganforge.cli.main import main
from ganforge.data import to_uint8
from ganforge.distill.interplay import QUADRANTS, interplay, load_discriminator, save_interplay_grid, select_quadrants
from ganforge.distill.trajectory import select_checkpoints, trajectory_variation
from ganforge.metrics.sampling import eval_latents
from ganforge.training import Trainer
from ganforge.training import checkpoint as ckpt
from ganforge.training.load import load_generator


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """5 steps of 8 images with a checkpoint after each (all kept) and an EMA that lags G from the start."""
    out = tmp_path_factory.mktemp("sd_analysis") / "run"
    cfg = tiny_train_config(str(out), kimg=0.04, snapshot_every_kimg=0.008, keep_checkpoints=0)
    cfg.schedule.ema_halflife_kimg_start = 0.02
    torch.manual_seed(0)
    Trainer(cfg, dataset=tiny_dataset()).train()
    return out


def _images(path, z, ema=True, clamp=True):
    with torch.no_grad():
        x = load_generator(path, ema=ema)(z)
    return x.clamp(-1, 1) if clamp else x


def test_trajectory_matches_its_definition(run_dir):
    chosen = select_checkpoints(run_dir, 0.2)
    assert [ckpt.read_state(p)["cur_nimg"] for p in chosen] == [8, 16, 24, 32, 40]  # 20%..100%: not the 0 one
    r = trajectory_variation(run_dir, num=6, distance="l1", seed=3)
    z, _ = eval_latents(6, 8, 0, 3)
    imgs = [_images(p, z) for p in chosen]
    d = torch.stack([(b - a).abs().flatten(1).mean(1) for a, b in itertools.pairwise(imgs)])  # [pairs, latents]
    per_latent = d.mean(0)
    assert r.kimg == [0.008, 0.016, 0.024, 0.032, 0.04] and r.generator == "G_ema"
    assert r.mean == pytest.approx(float(per_latent.mean()), rel=1e-5)
    assert r.std == pytest.approx(float(per_latent.std()), rel=1e-4) and r.std > 0
    assert r.pair_means == pytest.approx(d.mean(1).tolist(), rel=1e-5)
    live = trajectory_variation(run_dir, num=6, distance="l1", seed=3, ema=False)
    assert live.generator == "G" and live.mean != pytest.approx(r.mean)  # the live G moves differently


def test_trajectory_of_a_frozen_run_is_zero_and_too_few_checkpoints_fail(run_dir, tmp_path):
    last = ckpt.list_checkpoints(run_dir)[-1]
    frozen = tmp_path / "frozen"
    for i, tag in enumerate(("ckpt-0000000k000000001", "ckpt-0000000k000000002")):
        shutil.copytree(last, frozen / tag)
        state = json.loads((frozen / tag / "state.json").read_text())
        state["cur_nimg"] = 8 * (i + 1)
        (frozen / tag / "state.json").write_text(json.dumps(state))
    r = trajectory_variation(frozen, num=4, distance="l1")
    assert r.mean == 0 and r.std == 0
    shutil.rmtree(frozen / "ckpt-0000000k000000001")
    with pytest.raises(ckpt.CheckpointError, match="keep_checkpoints=0"):
        trajectory_variation(frozen, num=4, distance="l1")


def test_select_quadrants_takes_the_extremes_of_both_rankings():
    g = torch.Generator().manual_seed(0)
    l_sd, d = torch.rand(40, generator=g), torch.randn(40, generator=g)
    q = select_quadrants(l_sd, d, band=10, per_quadrant=3)
    assert list(q) == list(QUADRANTS)
    top, bottom = set(l_sd.argsort()[-10:].tolist()), set(l_sd.argsort()[:10].tolist())
    for name, band in (("high_sd", top), ("low_sd", bottom)):
        lo, hi = q[f"{name}_low_d"], q[f"{name}_high_d"]
        assert set(lo) <= band and set(hi) <= band and not set(lo) & set(hi)
        rest = band - set(lo) - set(hi)
        assert max(d[lo]) <= min(d[list(rest)]) and min(d[hi]) >= max(d[list(rest)])
    with pytest.raises(ValueError, match="band"):
        select_quadrants(l_sd, d, band=30, per_quadrant=3)


def test_interplay_values_and_grid(run_dir, tmp_path):
    r = interplay(run_dir, num=32, band=8, per_quadrant=2, distance="l1", seed=1)
    last = ckpt.list_checkpoints(run_dir)[-1]
    z, _ = eval_latents(32, 8, 0, 1)
    teacher, student = _images(last, z, clamp=False), _images(last, z, ema=False, clamp=False)  # as in training
    with torch.no_grad():
        logits = load_discriminator(run_dir)(teacher)
    torch.testing.assert_close(r.l_sd, (student - teacher).abs().flatten(1).mean(1), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(r.d_logits, logits, rtol=1e-5, atol=1e-6)
    assert r.l_sd.min() > 0  # the EMA lags: G and G_ema differ
    assert set(r.quadrants) == set(QUADRANTS) and all(len(v) == 2 for v in r.quadrants.values())
    assert float(r.l_sd[r.quadrants["high_sd_low_d"]].min()) > float(r.l_sd[r.quadrants["low_sd_high_d"]].max())
    assert torch.equal(r.images["low_sd_high_d"][0], to_uint8(teacher[r.quadrants["low_sd_high_d"][0]]))
    png = save_interplay_grid(r, tmp_path / "grid.png")
    w, h = Image.open(png).size
    assert w > 4 * 96 and h > 2 * 96  # 2 x 2 quadrants of 2 upscaled samples each (side by side), with labels
    s = r.summary()
    assert s["num"] == 32 and -1 <= s["spearman_l_sd_d"] <= 1
    assert s["quadrants"]["high_sd_high_d"]["l_sd"] == pytest.approx(r.l_sd[r.quadrants["high_sd_high_d"]].tolist())


def test_analyze_cli(run_dir, tmp_path, capsys):
    out = tmp_path / "t.json"
    assert main(["analyze", "trajectory", str(run_dir), "--distance", "l1", "--num", "8", "--json", str(out),
                 "--strip", str(tmp_path / "strip.png")]) == 0
    data = json.loads(out.read_text())
    assert data["num"] == 8 and len(data["per_latent"]) == 8 and len(data["pair_means"]) == 4
    assert f"{data['mean']:.4f}" in capsys.readouterr().out
    assert Image.open(tmp_path / "strip.png").size == (5 * 32, 4 * 32)  # checkpoints x latents closest to mean
    assert main(["analyze", "interplay", str(run_dir), "--distance", "l1", "--num", "24", "--per-quadrant", "2",
                 "--out", str(tmp_path / "g.png"), "--json", str(tmp_path / "i.json")]) == 0
    assert (tmp_path / "g.png").exists()
    assert set(json.loads((tmp_path / "i.json").read_text())["quadrants"]) == set(QUADRANTS)
    assert main(["analyze", "trajectory", str(tmp_path)]) == 2  # no checkpoints: a clear error, exit code 2
    assert "no ckpt-*" in capsys.readouterr().err
