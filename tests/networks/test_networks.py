import pytest
import torch
from helpers import tiny_net

from ganforge.networks import Discriminator, Generator, NetworkConfig, make_networks
from ganforge.networks.layers import ResidualBlock, downsample2x, upsample2x
from ganforge.training import get_preset

TABLE7 = {  # R3GAN Table 7: (G params, D params) in millions
    "stacked-mnist": (20.73, 20.68),
    "cifar10": (20.78, 21.28),
    "ffhq256": (23.06, 23.01),
    "imagenet32": (82.91, 86.55),
}
CLASSES = {"stacked-mnist": 0, "cifar10": 10, "ffhq256": 0, "imagenet32": 1000}


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("preset", sorted(TABLE7))
def test_parameter_counts_match_table7(preset):
    cfg = get_preset(preset).net
    cfg.num_classes = CLASSES[preset]
    G, D = make_networks(cfg)
    g_ref, d_ref = TABLE7[preset]
    assert abs(n_params(G) / 1e6 - g_ref) / g_ref < 0.01
    assert abs(n_params(D) / 1e6 - d_ref) / d_ref < 0.01


@pytest.mark.parametrize("preset", ["tiny", "small", "stacked-mnist", "cifar10", "ffhq256", "imagenet32"])
def test_preset_shapes(preset):
    cfg = get_preset(preset).net
    cfg.num_classes = CLASSES.get(preset, 0)
    G, D = make_networks(cfg)
    z = torch.randn(cfg.pack, cfg.z_dim)  # a packing D (PacGAN) judges `pack` images at once
    c = torch.tensor([cfg.num_classes - 1]) if cfg.num_classes else None
    with torch.no_grad():
        img = G(z, c)
        assert img.shape == (cfg.pack, 3, cfg.resolution, cfg.resolution)
        assert D(img, c).shape == (1,)


def test_features_and_conditioning():
    cfg = tiny_net(channels=3, num_classes=5)
    G, D = Generator(cfg), Discriminator(cfg)
    z, c = torch.randn(4, cfg.z_dim), torch.arange(4)
    img, feats = G(z, c, return_features=True)
    assert [f.shape[-1] for f in feats] == [4, 8, 16, 32]
    logits, dfeats = D(img, c, return_features=True)
    assert logits.shape == (4,) and [f.shape[-1] for f in dfeats] == [16, 8, 4]
    # labels matter: same z with another class gives another image and another logit
    assert not torch.allclose(G(z, (c + 1) % 5), img)
    with pytest.raises(ValueError, match="class-conditional"):
        G(z)


def test_fixup_init_makes_blocks_identity():
    block = ResidualBlock(32, cardinality=4, expansion=2, num_blocks_total=8)
    assert torch.count_nonzero(block.conv3.weight) == 0
    x = torch.randn(2, 32, 8, 8)
    assert torch.equal(block(x), x)
    # the other two convs are scaled by L^-0.25 (R3GAN fix-up): std ~ gain / sqrt(fan_in) * 8^-0.25
    fan_in = 32
    expected = (2 / 1.04) ** 0.5 / fan_in**0.5 * 8 ** (-0.25)
    assert abs(block.conv1.weight.std().item() / expected - 1) < 0.1


def test_grouped_conv_group_size_16_in_presets():
    cfg = get_preset("cifar10").net
    assert all(w * cfg.expansion // c == 16 for w, c in zip(cfg.widths, cfg.cardinalities))


def test_resampling_is_bilinear():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    up = upsample2x(x)
    assert up.shape[-1] == 8
    # a linear ramp stays a ramp in the interior under bilinear resampling
    assert torch.allclose(up[0, 0, 2, 2:6].diff(), torch.full((3,), 0.5))
    ramp = torch.arange(8.0).repeat(8, 1)[None, None]
    assert torch.allclose(downsample2x(ramp)[0, 0, 1, 1:3], torch.tensor([2.5, 4.5]))
    assert torch.allclose(downsample2x(torch.ones(1, 2, 8, 8)), torch.ones(1, 2, 4, 4))


def test_bad_cardinality_rejected():
    with pytest.raises(ValueError, match="divisible"):
        NetworkConfig(widths=[10, 10], blocks=[1, 1], cardinalities=[3, 3])


def test_bf16_stages_run():
    cfg = tiny_net(channels=3)
    G, D = make_networks(cfg)
    G.low_precision = D.low_precision = torch.bfloat16
    img = G(torch.randn(2, cfg.z_dim))
    assert img.dtype == torch.float32 and torch.isfinite(img).all()
    assert D(img).dtype == torch.float32


def test_discriminator_widths_of_its_own():
    """net.d_widths/d_cardinalities size D alone; G, the projection width and the logits follow; bad lists fail."""
    same = NetworkConfig(widths=[32, 32, 16], blocks=[1] * 3, cardinalities=[4, 4, 2], num_classes=3)
    narrow = NetworkConfig(widths=[32, 32, 16], blocks=[1] * 3, cardinalities=[4, 4, 2], num_classes=3,
                           d_widths=[16, 16, 8], d_cardinalities=[2, 2, 1])
    (G1, D1), (G2, D2) = make_networks(same), make_networks(narrow)
    assert n_params(G1) == n_params(G2)
    assert n_params(D2) < n_params(D1) / 2
    assert D2.from_rgb.out_channels == 8 and narrow.projection_dim == 16 and D2.embed.out_features == 16
    x, c = torch.randn(2, 3, 16, 16), torch.tensor([0, 2])
    assert D2(x, c).shape == (2,)
    with pytest.raises(ValueError, match="together"):
        NetworkConfig(widths=[32, 32], blocks=[1, 1], cardinalities=[4, 4], d_widths=[16, 16])
    with pytest.raises(ValueError, match="2 entries each"):
        NetworkConfig(widths=[32, 32], blocks=[1, 1], cardinalities=[4, 4], d_widths=[16], d_cardinalities=[2])
    with pytest.raises(ValueError, match="not divisible"):
        NetworkConfig(widths=[32, 32], blocks=[1, 1], cardinalities=[4, 4], d_widths=[16, 16],
                      d_cardinalities=[3, 3])
