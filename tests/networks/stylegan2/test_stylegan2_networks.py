"""Freshly initialised StyleGAN2 G/D of a tiny config: shapes, every architecture, gradients (incl. the R1 double
backward ganforge's losses need), truncation, w_avg tracking, noise modes and config validation."""

from __future__ import annotations

import pytest
import torch

from ganforge.errors import UserError
from ganforge.networks.stylegan2 import Discriminator, Generator, StyleGAN2Config
from ganforge.networks.stylegan2.discriminator import MinibatchStdLayer

TINY = {"z_dim": 16, "w_dim": 16, "img_resolution": 16, "mapping_layers": 2, "channel_base": 128, "channel_max": 16,
        "d_mapping_layers": 2}


@pytest.mark.parametrize(("g_arch", "d_arch", "c_dim"), [("skip", "resnet", 0), ("orig", "skip", 3),
                                                         ("resnet", "orig", 0)])
def test_forward_backward_and_r1(g_arch: str, d_arch: str, c_dim: int) -> None:
    cfg = StyleGAN2Config(**TINY, c_dim=c_dim, g_architecture=g_arch, d_architecture=d_arch, conv_clamp=256,
                          num_fp16_res=2)
    g, d = Generator(cfg).train(), Discriminator(cfg).train()
    z, c = torch.randn(4, 16), torch.eye(3)[torch.tensor([0, 1, 2, 0])] if c_dim else torch.zeros(4, 0)
    img = g(z, c)
    assert img.shape == (4, 3, 16, 16) and img.dtype == torch.float32 and torch.isfinite(img).all()
    logits = d(img, c)
    assert logits.shape == (4, 1)
    torch.nn.functional.softplus(-logits).mean().backward()
    assert all(p.grad is not None for n, p in g.named_parameters() if not n.startswith("mapping.embed") or c_dim)
    # R1 (Mescheder et al. 2018): gradient penalty on real images, then backward through that gradient.
    d.zero_grad()
    real = torch.randn(4, 3, 16, 16, requires_grad=True)
    (grad,) = torch.autograd.grad(d(real, c).sum(), real, create_graph=True)
    grad.square().sum(dim=[1, 2, 3]).mean().backward()
    # Every parameter but the output bias (a constant shift, absent from the input gradient) gets a gradient.
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for n, p in d.named_parameters()
               if n != "b4.out.bias")
    assert float(d.b16.conv0.weight.grad.abs().sum()) > 0


def test_eval_fused_equals_training_unfused_and_noise_modes() -> None:
    cfg = StyleGAN2Config(**TINY)
    g = Generator(cfg).eval()
    with torch.no_grad():
        for layer in g.modules():  # non-zero noise so the modes differ
            if hasattr(layer, "noise_strength"):
                layer.noise_strength.fill_(0.5)
        z = torch.randn(3, 16)
        fused = g(z, None, noise_mode="const")
        torch.testing.assert_close(g(z, None, noise_mode="const", fused_modconv=False), fused, atol=1e-5, rtol=1e-5)
        assert not torch.equal(g(z, None, noise_mode="none"), fused)
        assert not torch.equal(g(z, None, noise_mode="random"), g(z, None, noise_mode="random"))
        with pytest.raises(ValueError, match="noise_mode"):
            g(z, None, noise_mode="loud")  # type: ignore[arg-type]


def test_truncation_and_w_avg_tracking() -> None:
    cfg = StyleGAN2Config(**TINY, w_avg_beta=0.5)
    g = Generator(cfg)
    z = torch.randn(5, 16)
    g.train()
    w = g.mapping(z, None)
    torch.testing.assert_close(g.mapping.w_avg, 0.5 * w[:, 0].mean(0))  # lerp(mean w, 0, 0.5)
    g.eval()
    with torch.no_grad():
        w = g.mapping(z, None)
        assert w.shape == (5, g.num_ws, 16)
        avg = g.mapping.w_avg.clone()
        torch.testing.assert_close(g.mapping.w_avg, avg)  # eval does not update
        torch.testing.assert_close(g.mapping(z, None, truncation_psi=0.0), avg.expand_as(w))
        cut = g.mapping(z, None, truncation_psi=0.5, truncation_cutoff=2)
        torch.testing.assert_close(cut[:, :2], avg + 0.5 * (w[:, :2] - avg))
        torch.testing.assert_close(cut[:, 2:], w[:, 2:])


def test_minibatch_std_groups() -> None:
    x = torch.randn(8, 4, 2, 2)
    y = MinibatchStdLayer(group_size=4)(x)
    assert y.shape == (8, 5, 2, 2)
    group = x[[1, 3, 5, 7]]  # sample i is grouped with i + 2k for N = 8, G = 4
    want = (group.var(dim=0, unbiased=False) + 1e-8).sqrt().mean()
    torch.testing.assert_close(y[3, 4], want.expand(2, 2))
    with pytest.raises(ValueError, match="divisible"):
        MinibatchStdLayer(group_size=4)(torch.randn(6, 4, 2, 2))


def test_freeze_d_keeps_keys() -> None:
    cfg = StyleGAN2Config(**TINY, d_freeze_layers=2)
    d, free = Discriminator(cfg), Discriminator(StyleGAN2Config(**TINY))
    assert d.state_dict().keys() == free.state_dict().keys()
    assert "b16.fromrgb.weight" not in dict(d.named_parameters()) and "b16.conv1.weight" in dict(d.named_parameters())


@pytest.mark.parametrize(("changes", "message"), [
    ({"img_resolution": 24}, "power of two"), ({"g_architecture": "unet"}, "g_architecture"),
    ({"mapping_lr_multiplier": 0}, "mapping_lr_multiplier"), ({"w_avg_beta": 1.5}, "w_avg_beta"),
    ({"channel_base": 8}, "channel_base"), ({"z_dim": -1}, "z_dim"), ({"resample_filter": ()}, "resample_filter"),
    ({"mbstd_num_channels": 3}, "mbstd_num_channels"), ({"conv_clamp": 0}, "conv_clamp")])
def test_config_validation(changes: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        StyleGAN2Config(**{**TINY, **changes})
    with pytest.raises(UserError, match="unknown StyleGAN2Config key"):
        StyleGAN2Config.from_dict({"z_dims": 3})
    cfg = StyleGAN2Config.from_dict(StyleGAN2Config(**TINY).to_dict())
    assert cfg == StyleGAN2Config(**TINY) and cfg.num_ws == 6 and cfg.channels(4) == 16
