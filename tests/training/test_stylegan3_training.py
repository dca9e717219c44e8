"""StyleGAN3 in the one training loop: a few steps of the StyleGAN2-ADA recipe with net.arch=stylegan3 (its D is
StyleGAN2's, as in the official code) train G and D with finite losses, and a checkpoint resumes exactly."""

import math

import torch
from helpers import tiny_dataset

from ganforge.networks import NetworkConfig
from ganforge.training import Trainer, get_preset

# 32x32 alias-free G with 4 synthesis layers of at most 16 channels; a D of at most 8 channels.
SG3 = {"img_resolution": 32, "w_dim": 16, "channel_base": 256, "channel_max": 16, "num_layers": 4, "margin_size": 2,
       "d": {"channel_base": 64, "channel_max": 8, "mbstd_group_size": 2}}


def sg3_config(out):
    cfg = get_preset("sg2-cpu")
    cfg.net = NetworkConfig(arch="stylegan3", z_dim=8, arch_kwargs=SG3)
    cfg.loss.pl_weight, cfg.loss.style_mixing = 0.0, 0.0  # the official StyleGAN3 configs turn both off
    cfg.out, cfg.batch_size, cfg.kimg, cfg.grid_size = str(out), 4, 0.04, 4
    cfg.log_every_kimg, cfg.snapshot_every_kimg = 0.008, 1000.0
    return cfg


def _copy(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_stylegan3_trains_and_resumes(tmp_path):
    torch.manual_seed(0)
    data = tiny_dataset(16, channels=3)
    t = Trainer(sg3_config(tmp_path / "run"), dataset=data)
    assert type(t.G).__name__ == "StyleGAN3Generator" and type(t.D).__name__ == "StyleGANDiscriminator"
    g0, d0 = _copy(t.G), _copy(t.D)
    for _ in range(3):
        terms = t.train_step()
        assert terms["nonfinite"] is None, terms  # every loss term and gradient norm is finite
        assert math.isfinite(terms["loss_G"]) and math.isfinite(terms["loss_D"]) and terms["grad_G"] > 0
    g1, d1 = _copy(t.G), _copy(t.D)
    for before, after in ((g0, g1), (d0, d1)):
        changed = [k for k in before if not torch.equal(before[k], after[k])]
        assert any(k.endswith("weight") for k in changed), changed
    # The affine of the Fourier features, a synthesis conv and D's first conv all moved.
    assert not torch.equal(g0["synthesis.input.affine.weight"], g1["synthesis.input.affine.weight"])
    assert not torch.equal(g0["synthesis.L1_36_16.weight"], g1["synthesis.L1_36_16.weight"])
    assert not torch.equal(d0["b32.fromrgb.weight"], d1["b32.fromrgb.weight"])
    # Training mode tracks each layer's input magnitude (Alias-Free GAN Sec. 3, config C).
    assert not torch.equal(g0["synthesis.L1_36_16.magnitude_ema"], g1["synthesis.L1_36_16.magnitude_ema"])

    t.save_checkpoint()
    resumed = Trainer(sg3_config(tmp_path / "run"), dataset=data, resume=True)
    assert resumed.step == t.step == 3 and resumed.cur_nimg == t.cur_nimg
    for name in ("G", "D", "G_ema"):
        saved, loaded = getattr(t, name).state_dict(), getattr(resumed, name).state_dict()
        assert all(torch.equal(v, loaded[k]) for k, v in saved.items()), name
    assert resumed.train_step()["nonfinite"] is None
