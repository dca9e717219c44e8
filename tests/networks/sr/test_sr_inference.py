"""Tiled upscaling equals the untiled result when the tile padding covers the receptive field."""

from __future__ import annotations

import pytest
import torch

from ganforge.errors import UserError
from ganforge.networks.sr import SRNetConfig, build_sr_generator
from ganforge.networks.sr.inference import upscale_tensor


def perturbed(cfg: SRNetConfig) -> torch.nn.Module:
    net = build_sr_generator(cfg).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return net


def test_srvgg_tiles_equal_whole_image():
    net = perturbed(SRNetConfig(num_feat=4, num_conv=2, scale=2))  # 4 convs: receptive radius 4 input pixels
    x = torch.rand(1, 3, 21, 30)
    whole = upscale_tensor(net, x, tile=0)
    assert whole.shape == (1, 3, 42, 60)
    tiled = upscale_tensor(net, x, tile=8, tile_pad=4)
    assert (tiled - whole).abs().max() < 1e-5
    assert (upscale_tensor(net, x, tile=8, tile_pad=1) - whole).abs().max() > 1e-3  # too little context shows


@pytest.mark.parametrize("scale", [2, 1])
def test_rrdb_unshuffle_tiles_and_odd_sizes(scale):
    net = perturbed(SRNetConfig(arch="rrdb", num_feat=4, num_block=1, num_grow_ch=2, scale=scale))
    x = torch.rand(1, 3, 19, 13)  # not a multiple of the unshuffle factor: edge-padded, then cropped
    whole = upscale_tensor(net, x, tile=0)
    assert whole.shape == (1, 3, 19 * scale, 13 * scale)
    assert (upscale_tensor(net, x, tile=8, tile_pad=40) - whole).abs().max() < 1e-5


def test_tile_too_small_is_refused():
    net = build_sr_generator(SRNetConfig(num_feat=4, num_conv=1, scale=2))
    with pytest.raises(UserError, match="at least 8"):
        upscale_tensor(net, torch.rand(1, 3, 16, 16), tile=4)
