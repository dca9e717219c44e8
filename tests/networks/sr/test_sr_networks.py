"""SR networks against the official Real-ESRGAN / BasicSR fixtures, plus config validation and shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from official_fixtures import fixture_path, reference

from ganforge.errors import UserError
from ganforge.networks.sr import (
    RRDBNet,
    SRDiscConfig,
    SRNetConfig,
    SRVGGNetCompact,
    build_sr_discriminator,
    build_sr_generator,
    load_official_sr,
)


def close(actual: torch.Tensor, expected: np.ndarray) -> float:
    """Max abs error; asserts the fixtures README's tolerance (atol 1e-4 or rtol 1e-4 of the max-abs)."""
    err = float(np.abs(actual.detach().numpy() - expected).max())
    assert err <= max(1e-4, 1e-4 * float(np.abs(expected).max())), err
    return err


@pytest.fixture(scope="module")
def ref():
    return reference("realesrgan_tiny_reference.npz")


@pytest.fixture(scope="module")
def netd():
    return load_official_sr(fixture_path("realesrgan_unetd_tiny.pth"))


@pytest.mark.parametrize("arch", ["srvgg", "rrdb"])
def test_official_generators_reproduce_reference(arch, ref, netd):
    G = load_official_sr(fixture_path(f"realesrgan_{arch}_tiny.pth"), arch=arch)
    assert not G.training
    with torch.no_grad():
        sr = G(torch.from_numpy(ref["lr"]))
        close(sr, ref[f"sr_{arch}"])
        close(netd(torch.from_numpy(ref[f"sr_{arch}"])), ref[f"d_out_{arch}"])
        close(netd(sr), ref[f"d_out_{arch}"])


def test_official_configs_are_inferred(netd):
    srvgg = load_official_sr(fixture_path("realesrgan_srvgg_tiny.pth")).cfg
    assert (srvgg.arch, srvgg.num_feat, srvgg.num_conv, srvgg.scale, srvgg.act_type) == ("srvgg", 32, 8, 4, "prelu")
    rrdb = load_official_sr(fixture_path("realesrgan_rrdb_tiny.pth")).cfg
    assert (rrdb.arch, rrdb.num_feat, rrdb.num_block, rrdb.num_grow_ch, rrdb.scale) == ("rrdb", 32, 2, 16, 4)
    assert netd.cfg == SRDiscConfig(num_in_ch=3, num_feat=16, skip_connection=True)
    with pytest.raises(UserError, match="holds a unetd network, not rrdb"):
        load_official_sr(fixture_path("realesrgan_unetd_tiny.pth"), arch="rrdb")


def test_eval_spectral_norm_uses_stored_vectors_without_power_iteration():
    """sigma = u . (W v) with the file's u, v (not converged, so it differs from the SVD value); eval keeps u, v."""
    netd = load_official_sr(fixture_path("realesrgan_unetd_tiny.pth"))
    conv = netd.conv1
    u0, v0 = conv.weight_u.clone(), conv.weight_v.clone()
    with torch.no_grad():
        netd(torch.rand(1, 3, 16, 16))
    assert torch.equal(conv.weight_u, u0) and torch.equal(conv.weight_v, v0)
    w = conv.weight_orig.detach().reshape(conv.weight_orig.shape[0], -1)
    sigma = torch.dot(u0, w @ v0)
    assert torch.allclose(conv.weight, conv.weight_orig / sigma, atol=1e-6)
    assert abs(float(sigma) - float(torch.linalg.matrix_norm(w, ord=2))) > 1e-4
    netd.train()
    with torch.no_grad():
        netd(torch.rand(1, 3, 16, 16))
    assert not torch.equal(conv.weight_u, u0)  # training does one power iteration per call, as upstream


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_rrdb_scales_and_pixel_unshuffle(scale):
    net = build_sr_generator(SRNetConfig(arch="rrdb", num_feat=4, num_block=1, num_grow_ch=4, scale=scale))
    assert isinstance(net, RRDBNet) and net.conv_first.in_channels == 3 * {4: 1, 2: 4, 1: 16}[scale]
    assert net(torch.rand(2, 3, 8, 12)).shape == (2, 3, 8 * scale, 12 * scale)


@pytest.mark.parametrize("act", ["prelu", "relu", "leakyrelu"])
def test_srvgg_adds_nearest_upsampled_input(act):
    net = build_sr_generator(SRNetConfig(num_feat=4, num_conv=1, scale=3, act_type=act))
    assert isinstance(net, SRVGGNetCompact)
    torch.nn.init.zeros_(net.body[-1].weight)
    torch.nn.init.zeros_(net.body[-1].bias)
    x = torch.rand(1, 3, 5, 7)
    assert torch.equal(net(x), x.repeat_interleave(3, 2).repeat_interleave(3, 3))  # body output 0: just the skip


def test_unet_discriminator_shapes_and_keys():
    D = build_sr_discriminator(SRDiscConfig(num_feat=4, skip_connection=False))
    assert D(torch.rand(2, 3, 16, 24)).shape == (2, 1, 16, 24)
    keys = set(D.state_dict())
    assert {"conv1.weight_orig", "conv1.weight_u", "conv1.weight_v", "conv9.bias"} <= keys
    assert "conv1.weight" not in keys and "conv1.bias" not in keys


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"arch": "edsr"}, "arch must be one of srvgg, rrdb"),
    ({"arch": "rrdb", "scale": 3}, "1, 2 or 4 for rrdb"),
    ({"act_type": "gelu"}, "act_type must be one of"),
    ({"num_feat": 0}, "num_feat must be an integer >= 1"),
    ({"num_out_ch": 1}, "num_out_ch must equal"),
    ({"num_conv": -1}, "num_conv must be an integer >= 0"),
])
def test_config_validation(kwargs, message):
    with pytest.raises(UserError, match=message):
        SRNetConfig(**kwargs)


def test_config_from_dict_rejects_unknown_fields():
    assert SRNetConfig.from_dict({"arch": "rrdb", "scale": 2}).scale == 2
    with pytest.raises(UserError, match="unknown field"):
        SRNetConfig.from_dict({"arch": "rrdb", "upscale": 2})
