"""ganforge's StyleGAN2-ADA G and D against outputs of the official code on the tiny fixtures (README section 1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from official_fixtures import fixture_path, reference

from ganforge.interop.official_pickle import read_snapshot, state_dict
from ganforge.networks.stylegan2 import Discriminator, Generator, StyleGAN2Config

NAMES = ["stylegan2ada_tiny", "stylegan2ada_tiny_cond"]
PARAMS = {"stylegan2ada_tiny": (943_571, 1_153_473), "stylegan2ada_tiny_cond": (948_371, 1_303_360)}


def _close(got: torch.Tensor, want: np.ndarray) -> float:
    """Max abs error, asserted within the README's tolerance: atol 1e-4 or rtol 1e-4 of the array's max-abs."""
    err = float(np.abs(got.detach().numpy() - want).max())
    assert got.shape == want.shape
    assert err <= max(1e-4, 1e-4 * float(np.abs(want).max())), err
    return err


@pytest.fixture(scope="module", params=NAMES)
def case(request: pytest.FixtureRequest) -> tuple[str, dict, Generator, Discriminator]:
    name = request.param
    snap = read_snapshot(fixture_path(f"{name}.pkl"))
    cfg = StyleGAN2Config(z_dim=64, w_dim=64, c_dim=10 if "cond" in name else 0, img_resolution=32,
                          mapping_layers=2, channel_base=2048, channel_max=128, num_fp16_res=4, conv_clamp=256)
    g_ema, d = Generator(cfg).eval(), Discriminator(cfg).eval()
    g_ema.load_state_dict(state_dict(snap["G_ema"]), strict=True)
    d.load_state_dict(state_dict(snap["D"]), strict=True)
    return name, reference(f"{name}_reference.npz"), g_ema, d


def _seeds(ref: dict) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(z_i, c_i) one seed at a time, as the references were computed."""
    return [(torch.from_numpy(ref["z"][i:i + 1]).float(), torch.from_numpy(ref["c"][i:i + 1]))
            for i in range(len(ref["z"]))]


def test_parameter_counts(case: tuple) -> None:
    name, _, g, d = case
    assert (sum(p.numel() for p in g.parameters()), sum(p.numel() for p in d.parameters())) == PARAMS[name]


@torch.no_grad()
def test_mapping_matches_reference(case: tuple) -> None:
    _, ref, g, _ = case
    _close(g.mapping.w_avg, ref["w_avg"])
    _close(torch.cat([g.mapping(z, c) for z, c in _seeds(ref)]), ref["w"])
    _close(torch.cat([g.mapping(z, c, truncation_psi=0.7) for z, c in _seeds(ref)]), ref["w_psi07"])


@torch.no_grad()
def test_images_match_reference(case: tuple) -> None:
    _, ref, g, _ = case
    for psi, key in ((1.0, "img_psi1"), (0.7, "img_psi07")):
        imgs = torch.cat([g(z, c, truncation_psi=psi, noise_mode="const", force_fp32=True) for z, c in _seeds(ref)])
        _close(imgs, ref[key])
    ws = torch.from_numpy(ref["w"][:2])  # the synthesis network alone, batch 2 (grouped fused conv)
    _close(g.synthesis(ws, noise_mode="const"), ref["img_psi1"][:2])


@torch.no_grad()
def test_discriminator_matches_reference(case: tuple) -> None:
    _, ref, _, d = case
    img, c = torch.from_numpy(ref["img_psi1"]), torch.from_numpy(ref["c"])
    _close(d(img, c, force_fp32=True), ref["d_logits"])  # batch 8: minibatch-std groups of 4
    _close(torch.cat([d(img[i:i + 1], c[i:i + 1]) for i in range(len(img))]), ref["d_logits_bs1"])


def test_training_mode_ops_match_reference(case: tuple) -> None:
    """Training mode switches to the non-fused modulated conv; with w_avg updates skipped it gives the same image."""
    _, ref, g, _ = case
    g.train()
    try:
        with torch.no_grad():
            ws = torch.from_numpy(ref["w"][:2])
            _close(g.synthesis(ws, noise_mode="const"), ref["img_psi1"][:2])
    finally:
        g.eval()
