"""from_snapshot on the official StyleGAN3-T tiny fixture: the restricted reader admits the file (with its real
AugmentPipe and numpy arrays), configs, strict loads, outputs of G_ema and D against the reference, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from official_fixtures import fixture_path, reference

from ganforge.errors import UserError
from ganforge.interop.convert import detect_family, import_snapshot, load_networks
from ganforge.interop.official_pickle import Record, read_snapshot
from ganforge.interop.stylegan3 import d_config_from_record, from_snapshot, g_config_from_record
from ganforge.networks.stylegan2 import Discriminator
from ganforge.networks.stylegan3 import Generator

NAME = "stylegan3t_tiny"


def _err(got: torch.Tensor, want: np.ndarray) -> float:
    assert got.shape == want.shape
    return float(np.abs(got.numpy() - want).max())


def test_reader_admits_the_snapshot_with_its_augment_pipe() -> None:
    snap = read_snapshot(fixture_path(f"{NAME}.pkl"))
    assert sorted(snap) == ["D", "G", "G_ema", "augment_pipe", "training_set_kwargs"]
    pipe = snap["augment_pipe"]
    assert isinstance(pipe, Record) and pipe.class_name == "AugmentPipe" and pipe.persistent
    assert float(pipe.state["_buffers"]["p"]) == pytest.approx(0.125)
    assert pipe.kwargs["xflip"] == 1 and tuple(pipe.state["_buffers"]["Hz_fbank"].shape) == (4, 43)
    layer = snap["G_ema"].child("synthesis.L5_52_64")
    assert isinstance(layer.state["in_size"], np.ndarray) and list(layer.state["in_size"]) == [36, 36]
    assert detect_family(snap) == "stylegan3"


def test_from_snapshot_builds_matching_networks() -> None:
    g, d, g_ema, cfg = from_snapshot(read_snapshot(fixture_path(f"{NAME}.pkl")))
    assert isinstance(g, Generator) and isinstance(g_ema, Generator) and isinstance(d, Discriminator)
    assert (cfg.config, cfg.z_dim, cfg.w_dim, cfg.img_resolution, cfg.mapping_layers, cfg.num_ws) == ("t", 64, 64,
                                                                                                       32, 2, 16)
    assert (cfg.channel_base, cfg.channel_max, cfg.magnitude_ema_beta) == (1024, 64, 0.5 ** (32 / 20000))
    # D has its own channels and the official StyleGAN2 Discriminator's defaults where the kwargs say nothing.
    assert (d.cfg.channel_base, d.cfg.channel_max, d.cfg.conv_clamp, d.cfg.mbstd_group_size) == (1024, 64, 256, 4)
    assert sum(p.numel() for p in d.parameters()) == 288_993
    assert not g.training and not d.training and not g_ema.training
    assert not torch.equal(g.synthesis.input.weight, g_ema.synthesis.input.weight)  # G and G_ema differ
    transform = g_ema.synthesis.input.transform
    assert not torch.equal(transform, torch.eye(3)) and float(transform[0, 0]) == pytest.approx(1.09, abs=0.01)

    ref = reference(f"{NAME}_reference.npz")
    with torch.no_grad():
        z = torch.from_numpy(ref["z"][:2]).float()
        img = torch.cat([g_ema(z[i:i + 1], torch.from_numpy(ref["c"][i:i + 1])) for i in range(2)])
        imgs = torch.from_numpy(ref["img_psi1"])
        logits = d(imgs, None, force_fp32=True)  # batch 8: minibatch-std groups of 4
        logits_bs1 = torch.cat([d(imgs[i:i + 1], None) for i in range(len(imgs))])
    assert _err(img, ref["img_psi1"][:2]) < 1e-4
    assert _err(logits, ref["d_logits"]) < 1e-4
    assert _err(logits_bs1, ref["d_logits_bs1"]) < 1e-4


def test_fine_tuning_gradients_reach_every_parameter() -> None:
    g, d, _, _ = from_snapshot(read_snapshot(fixture_path(f"{NAME}.pkl")))
    g.train()
    d.train()
    torch.nn.functional.softplus(-d(g(torch.randn(2, 64), None))).mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in g.parameters())
    assert all(p.grad is not None for p in d.parameters())


def test_mismatches_are_clear_user_errors() -> None:
    path = fixture_path(f"{NAME}.pkl")
    snap = read_snapshot(path)
    params = snap["G_ema"].child("synthesis.L3_36_64").state["_parameters"]
    params["weight"] = params["weight"][:, :5]
    with pytest.raises(UserError, match=r"G_ema does not match the StyleGAN3 network.*L3_36_64\.weight"):
        from_snapshot(snap)

    snap = read_snapshot(path)
    snap["G"].state["_init_kwargs"]["magic"] = 1
    with pytest.raises(UserError, match=r"magic.*not a stock StyleGAN3"):
        g_config_from_record(snap["G"])
    snap = read_snapshot(path)
    snap["G"].state["_init_kwargs"]["channel_max"] = 32  # layer names encode channels: L9_52_54 would differ
    with pytest.raises(UserError, match=r"layers .* differ"):
        g_config_from_record(snap["G"])
    snap["G"].state["_init_kwargs"].update(channel_max=64, conv_kernel=1)
    with pytest.raises(UserError, match="conv_kernel=1, use_radial_filters=False"):
        g_config_from_record(snap["G"])
    with pytest.raises(UserError, match="expected an official StyleGAN2 Discriminator"):
        d_config_from_record(snap["G"])
    with pytest.raises(UserError, match="no network 'D'"):
        from_snapshot({"G": snap["G"], "G_ema": snap["G_ema"]})
    with pytest.raises(UserError, match="expected an official StyleGAN3 Generator"):
        g_config_from_record(read_snapshot(fixture_path("stylegan2ada_tiny.pkl"))["G"])


def test_load_networks_and_run_import(tmp_path: Path) -> None:
    family, (g, d, g_ema, cfg) = load_networks(fixture_path(f"{NAME}.pkl"))
    assert family == "stylegan3" and cfg.config == "t"
    assert isinstance(g, Generator) and isinstance(d, Discriminator) and isinstance(g_ema, Generator)
    summary: dict = {}
    run = import_snapshot(fixture_path(f"{NAME}.pkl"), tmp_path / "run", summary=summary)
    assert summary["params"] == {"G": 488_517, "D": 288_993}  # the README's counts
    net = summary["net"]
    assert net["arch"] == "stylegan3" and net["arch_kwargs"]["config"] == "t" and net["z_dim"] == 64
    assert net["arch_kwargs"]["d"]["channel_base"] == d.cfg.channel_base
    info = json.loads((run / "import.json").read_text())
    assert info["not_imported"] == [] and info["official_classes"]["D"] == "Discriminator"
    assert info["augment_pipe"]["p"] == 0.125  # the README's ADA state (details: test_augment_pipe_import.py)
