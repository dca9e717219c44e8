"""ganforge's StyleGAN3-T generator against outputs of the official code on the tiny fixture (README section 2).

Config R has no official fixture; test_stylegan3_networks.py checks its shapes, filters and rotation equivariance."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from official_fixtures import fixture_path, reference

from ganforge.interop.official_pickle import read_snapshot, state_dict
from ganforge.networks.stylegan3 import Generator, StyleGAN3Config

NAME = "stylegan3t_tiny"
# G_kwargs of the fixture (train.py --cfg=stylegan3-t --batch=32 --cbase=1024 --cmax=64 --map=2)
CFG = {"z_dim": 64, "w_dim": 64, "img_resolution": 32, "mapping_layers": 2, "channel_base": 1024, "channel_max": 64,
       "magnitude_ema_beta": 0.5 ** (32 / 20000)}


def _close(got: torch.Tensor, want: np.ndarray) -> float:
    """Max abs error, asserted within the README's tolerance: atol 1e-4 or rtol 1e-4 of the array's max-abs."""
    err = float(np.abs(got.detach().numpy() - want).max())
    assert got.shape == want.shape
    assert err <= max(1e-4, 1e-4 * float(np.abs(want).max())), err
    return err


@pytest.fixture(scope="module")
def case() -> tuple[dict, Generator, dict]:
    snap = read_snapshot(fixture_path(f"{NAME}.pkl"))
    g_ema = Generator(StyleGAN3Config(**CFG)).eval()
    official = state_dict(snap["G_ema"])
    designed = {k: v.clone() for k, v in g_ema.state_dict().items()}
    g_ema.load_state_dict(official, strict=True)
    return reference(f"{NAME}_reference.npz"), g_ema, {"designed": designed, "snapshot": snap}


def _zs(ref: dict) -> list[torch.Tensor]:
    """z_i one seed at a time, as the references were computed (unconditional: c is [1, 0])."""
    return [torch.from_numpy(ref["z"][i:i + 1]).float() for i in range(len(ref["z"]))]


def test_architecture_matches_the_official_one(case: tuple) -> None:
    _, g, extra = case
    assert sum(p.numel() for p in g.parameters()) == 488_517
    assert g.synthesis.layer_names == extra["snapshot"]["G_ema"].child("synthesis").state["layer_names"]
    assert g.num_ws == 16
    layer = g.synthesis.L5_52_64  # the one layer that upsamples 4x (36 -> 52 px, 16 -> 32 samples per unit)
    assert (layer.up_factor, layer.down_factor, layer.padding) == (4, 2, (-6, -9, -6, -9))


def test_designed_filters_equal_the_official_ones(case: tuple) -> None:
    """Kaiser low-pass filters designed from the layer specs equal the buffers the official constructor stored."""
    extra = case[2]
    official = state_dict(extra["snapshot"]["G_ema"])
    keys = [k for k in official if k.endswith(("up_filter", "down_filter"))]
    assert len(keys) == 28  # L0..L13 have both; ToRGB has none (identity)
    for k in keys:
        torch.testing.assert_close(extra["designed"][k], official[k], atol=1e-7, rtol=0)


@torch.no_grad()
def test_mapping_matches_reference(case: tuple) -> None:
    ref, g, _ = case
    _close(g.mapping.w_avg, ref["w_avg"])
    _close(torch.cat([g.mapping(z, None) for z in _zs(ref)]), ref["w"])
    _close(torch.cat([g.mapping(z, None, truncation_psi=0.7) for z in _zs(ref)]), ref["w_psi07"])


@torch.no_grad()
def test_images_match_reference(case: tuple) -> None:
    ref, g, _ = case
    c = torch.zeros(1, 0)
    for psi, key in ((1.0, "img_psi1"), (0.7, "img_psi07")):
        _close(torch.cat([g(z, c, truncation_psi=psi, noise_mode="const", force_fp32=True) for z in _zs(ref)]),
               ref[key])
    _close(g.synthesis(torch.from_numpy(ref["w_psi07"][:3])), ref["img_psi07"][:3])  # batch 3, one grouped conv


def test_training_mode_without_ema_updates_matches_reference(case: tuple) -> None:
    """Training mode changes nothing but the EMA updates; with them off the image is the reference's."""
    ref, g, _ = case
    g.train()
    try:
        with torch.no_grad():
            _close(g(_zs(ref)[0], None, update_emas=False), ref["img_psi1"][:1])
    finally:
        g.eval()
