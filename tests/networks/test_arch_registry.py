"""net.arch: R3GAN, StyleGAN2 and StyleGAN3 built from one NetworkConfig, with one call convention, and configs that
survive config.json (old files without `arch` load as R3GAN)."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from helpers import tiny_net

from ganforge.errors import UserError
from ganforge.networks import NetworkConfig, make_networks, stylegan2, stylegan3
from ganforge.training.config import TrainConfig, to_dict
from ganforge.training.overrides import ConfigError, apply_overrides, update_from_dict

SG2 = {"img_resolution": 8, "w_dim": 16, "mapping_layers": 2, "channel_base": 64, "channel_max": 16,
       "mbstd_group_size": 2}
SG3 = {"img_resolution": 16, "w_dim": 16, "channel_base": 128, "channel_max": 16, "num_layers": 4,
       "margin_size": 2, "d": {"channel_base": 64, "channel_max": 8, "mbstd_group_size": 2}}


def _net(arch: str, num_classes: int = 0) -> NetworkConfig:
    return NetworkConfig(arch=arch, z_dim=8, num_classes=num_classes, arch_kwargs=SG2 if arch == "stylegan2" else SG3)


@pytest.mark.parametrize(("arch", "g_cls"), [("stylegan2", stylegan2.Generator), ("stylegan3", stylegan3.Generator)])
def test_stylegan_networks_take_ganforge_calls(arch, g_cls):
    torch.manual_seed(0)
    G, D = make_networks(_net(arch, num_classes=3))
    assert isinstance(G, g_cls) and isinstance(D, stylegan2.Discriminator)
    assert (G.z_dim, G.num_classes, G.img_channels, G.resolution, G.cfg.arch) == (8, 3, 3, G.img_resolution, arch)
    z, labels = torch.randn(4, 8), torch.tensor([0, 1, 2, 0])
    G.eval()
    with torch.no_grad():
        img = G(z, labels)  # eval mode: constant noise, so the same call gives the same image
        assert torch.equal(img, G(z, torch.nn.functional.one_hot(labels, 3).float()))
        assert not torch.equal(G(z, labels, truncation_psi=0.5), img)
        logits = D(img, labels)
    assert img.shape == (4, 3, G.resolution, G.resolution) and logits.shape == (4,)
    with pytest.raises(ValueError, match="class-conditional"):
        G(z)


def test_stylegan2_noise_is_random_in_training_and_const_in_eval():
    G, _ = make_networks(_net("stylegan2"))
    z = torch.randn(2, 8)
    with torch.no_grad():
        for m in G.modules():
            if hasattr(m, "noise_strength"):
                m.noise_strength.fill_(0.5)  # initialised to 0, as in the official code: noise would not show
        G.train()
        assert not torch.equal(G(z), G(z))
        G.eval()
        assert torch.equal(G(z), G(z))
        G.noise_mode = "random"
        assert not torch.equal(G(z), G(z))


@pytest.mark.parametrize("arch", ["stylegan2", "stylegan3"])
def test_features_for_the_distillation_terms(arch):
    G, D = make_networks(_net(arch))
    img, g_feats = G(torch.randn(2, 8), None, return_features=True)
    logits, d_feats = D(img, None, return_features=True)
    assert img.shape[0] == logits.shape[0] == 2 and logits.ndim == 1
    assert len(g_feats) >= 2 and all(f.shape[0] == 2 and f.ndim == 4 for f in g_feats + d_feats)
    assert len(d_feats) == len(D.block_resolutions)


@pytest.mark.parametrize("arch", ["stylegan2", "stylegan3"])
def test_config_json_round_trip_rebuilds_the_same_networks(arch):
    cfg = TrainConfig(net=_net(arch, num_classes=2), conditional=True)
    saved = json.loads(json.dumps(to_dict(cfg)))
    back = update_from_dict(TrainConfig(), saved)
    assert back.net == cfg.net and back.net.stylegan_configs() == cfg.net.stylegan_configs()
    G, D = make_networks(cfg.net)
    G2, D2 = make_networks(back.net)
    assert {k: v.shape for k, v in G.state_dict().items()} == {k: v.shape for k, v in G2.state_dict().items()}
    assert {k: v.shape for k, v in D.state_dict().items()} == {k: v.shape for k, v in D2.state_dict().items()}


def test_old_config_without_arch_loads_as_r3gan():
    old = dataclasses.asdict(tiny_net())
    del old["arch"], old["arch_kwargs"]
    net = update_from_dict(NetworkConfig(), old)
    assert net.arch == "r3gan" and net.arch_kwargs == {}
    G, _ = make_networks(net)
    assert type(G).__name__ == "Generator" and G(torch.randn(2, 8)).shape == (2, 1, 32, 32)


def test_bad_settings_are_config_errors():
    cfg = TrainConfig()
    with pytest.raises(ConfigError, match=r"net\.arch: expected one of r3gan, stylegan2, stylegan3"):
        apply_overrides(cfg, ["net.arch=stylegan4"])
    with pytest.raises(ConfigError, match=r"unknown key.*chanel_base"):
        apply_overrides(TrainConfig(), ["net.arch=stylegan2", 'net.arch_kwargs={"chanel_base": 64}'])
    with pytest.raises(ConfigError, match=r"set net\.z_dim instead"):
        apply_overrides(TrainConfig(), ["net.arch=stylegan2", 'net.arch_kwargs={"z_dim": 64}'])
    with pytest.raises(ConfigError, match=r"apply to net\.arch=stylegan2/stylegan3 only"):
        apply_overrides(TrainConfig(), ['net.arch_kwargs={"w_dim": 64}'])
    with pytest.raises(ConfigError, match="R3GAN settings"):
        apply_overrides(TrainConfig(), ["net.arch=stylegan2", "net.pack=2"])
    with pytest.raises(UserError, match="img_resolution must be a power of two"):
        NetworkConfig(arch="stylegan3", arch_kwargs={"img_resolution": 24})
    with pytest.raises(ValueError, match=r"arch_kwargs\.d\.img_resolution"):
        NetworkConfig(arch="stylegan3", arch_kwargs={"d": {"img_resolution": 16}})
