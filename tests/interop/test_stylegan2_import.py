"""from_snapshot on the official StyleGAN2-ADA tiny fixtures: config, strict loads, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from official_fixtures import fixture_path, reference

from ganforge.errors import UserError
from ganforge.interop.official_pickle import read_snapshot
from ganforge.interop.stylegan2 import config_from_records, from_snapshot
from ganforge.networks.stylegan2 import Discriminator, Generator


@pytest.mark.parametrize("name", ["stylegan2ada_tiny", "stylegan2ada_tiny_cond"])
def test_from_snapshot_builds_matching_networks(name: str) -> None:
    snap = read_snapshot(fixture_path(f"{name}.pkl"))
    g, d, g_ema, cfg = from_snapshot(snap)
    assert isinstance(g, Generator) and isinstance(d, Discriminator) and isinstance(g_ema, Generator)
    assert (cfg.z_dim, cfg.w_dim, cfg.img_resolution, cfg.mapping_layers, cfg.num_ws) == (64, 64, 32, 2, 8)
    assert (cfg.channel_base, cfg.channel_max, cfg.num_fp16_res, cfg.conv_clamp) == (2048, 128, 4, 256)
    assert (cfg.g_architecture, cfg.d_architecture, cfg.mbstd_group_size) == ("skip", "resnet", 4)
    assert cfg.c_dim == (10 if name.endswith("cond") else 0)
    assert not g.training and not d.training
    assert not torch.equal(g.synthesis.b4.const, g_ema.synthesis.b4.const)  # G and G_ema are different weights
    ref = reference(f"{name}_reference.npz")
    with torch.no_grad():
        z, c = torch.from_numpy(ref["z"][:1]).float(), torch.from_numpy(ref["c"][:1])
        img = g_ema(z, c, noise_mode="const")
        logits = d(torch.from_numpy(ref["img_psi1"]), torch.from_numpy(ref["c"]))
    assert float(np.abs(img.numpy() - ref["img_psi1"][:1]).max()) < 1e-4
    assert float(np.abs(logits.numpy() - ref["d_logits"]).max()) < 1e-4


def test_mismatches_are_clear_user_errors() -> None:
    snap = read_snapshot(fixture_path("stylegan2ada_tiny.pkl"))
    params = snap["D"].child("b4.out").state["_parameters"]
    params["weight"] = params["weight"][:, :5]  # wrong shape
    with pytest.raises(UserError, match=r"D does not match.*wrong shape: b4\.out\.weight"):
        from_snapshot(snap)

    snap = read_snapshot(fixture_path("stylegan2ada_tiny.pkl"))
    del snap["G_ema"].child("synthesis.b8.conv0").state["_parameters"]["bias"]
    with pytest.raises(UserError, match=r"G_ema does not match.*missing: synthesis\.b8\.conv0\.bias"):
        from_snapshot(snap)

    snap = read_snapshot(fixture_path("stylegan2ada_tiny.pkl"))
    snap["D"].state["_init_kwargs"]["channel_max"] = 64
    with pytest.raises(UserError, match="G and D differ in channel_max"):
        config_from_records(snap["G"], snap["D"])
    snap["D"].state["_init_kwargs"]["channel_max"] = 128
    snap["G"].state["_init_kwargs"]["synthesis_kwargs"]["magic"] = 1
    with pytest.raises(UserError, match="magic"):
        config_from_records(snap["G"], snap["D"])
    with pytest.raises(UserError, match="no network 'D'"):
        from_snapshot({"G": snap["G"]})
