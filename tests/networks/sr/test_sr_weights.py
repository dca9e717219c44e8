"""Damaged or foreign official .pth files fail with one clear line; the ganforge safetensors format round-trips."""

from __future__ import annotations

import json

import pytest
import torch
from official_fixtures import fixture_path
from safetensors import safe_open

from ganforge.errors import UserError
from ganforge.networks.sr import (
    SRDiscConfig,
    SRNetConfig,
    build_sr_discriminator,
    build_sr_generator,
    load_official_sr,
    load_sr,
    load_sr_weights,
    save_sr,
)


@pytest.fixture(scope="module")
def official_sd():
    return torch.load(fixture_path("realesrgan_srvgg_tiny.pth"), map_location="cpu", weights_only=True)["params_ema"]


def load_error(tmp_path, obj, **kwargs) -> str:
    path = tmp_path / "w.pth"
    torch.save(obj, path)
    with pytest.raises(UserError) as e:
        load_official_sr(path, **kwargs)
    message = str(e.value)
    assert "\n" not in message
    return message


def test_damaged_official_files_name_the_key(tmp_path, official_sd):
    sd = dict(official_sd)
    del sd["body.4.bias"]
    assert "key 'body.4.bias' is missing" in load_error(tmp_path, {"params_ema": sd})
    sd = {**official_sd, "body.4.extra": torch.zeros(1)}
    assert "key 'body.4.extra' is unexpected" in load_error(tmp_path, {"params": sd})
    sd = {**official_sd, "body.3.weight": torch.zeros(31)}
    assert "'body.3.weight' has shape (31,), expected (32,)" in load_error(tmp_path, {"params_ema": sd})
    sd = {**official_sd, "body.0.bias": torch.full((32,), float("nan"))}
    assert "NaN" in load_error(tmp_path, sd)


def test_foreign_files_are_refused(tmp_path, official_sd):
    assert "not a network state dict" in load_error(tmp_path, [1, 2, 3])
    assert "not an SRVGGNetCompact, RRDBNet" in load_error(tmp_path, {"params": {"fc.weight": torch.zeros(2, 2)}})
    prelu_free = {k: v for k, v in official_sd.items() if not (k.endswith(".weight") and v.ndim == 1)}
    assert "act_type relu or leakyrelu" in load_error(tmp_path, prelu_free)
    net = load_error(tmp_path, {"model.0.weight": torch.zeros(1)})
    assert "old ESRGAN key names" in net
    (tmp_path / "text.pth").write_text("not weights")
    with pytest.raises(UserError, match=r"not a weights file torch\.load can read safely"):
        load_official_sr(tmp_path / "text.pth")
    with pytest.raises(UserError, match="no such file"):
        load_official_sr(tmp_path / "missing.pth")
    with pytest.raises(UserError, match=r"a directory without generator\.safetensors"):
        load_sr_weights(tmp_path)


def test_relu_srvgg_loads_with_explicit_activation(tmp_path):
    G = build_sr_generator(SRNetConfig(num_feat=4, num_conv=2, scale=2, act_type="leakyrelu"))
    torch.save({"params": G.state_dict()}, tmp_path / "g.pth")
    loaded = load_official_sr(tmp_path / "g.pth", act_type="leakyrelu")
    assert loaded.cfg == G.cfg
    x = torch.rand(1, 3, 6, 6)
    assert torch.equal(loaded(x), G.eval()(x))


@pytest.mark.parametrize("cfg", [
    SRNetConfig(arch="rrdb", num_feat=4, num_block=2, num_grow_ch=4, scale=2),
    SRNetConfig(num_feat=4, num_conv=1, scale=3),
    SRDiscConfig(num_feat=4, skip_connection=False),
])
def test_safetensors_round_trip(tmp_path, cfg):
    net = (build_sr_generator(cfg) if isinstance(cfg, SRNetConfig) else build_sr_discriminator(cfg)).eval()
    save_sr(net, tmp_path / "n.safetensors")
    with safe_open(str(tmp_path / "n.safetensors"), framework="pt") as f:
        assert json.loads(f.metadata()["config"])["num_feat"] == 4
    for loaded in (load_sr(tmp_path / "n.safetensors"), load_sr_weights(tmp_path / "n.safetensors")):
        assert loaded.cfg == cfg and not loaded.training
        x = torch.rand(1, 3, 16, 16)
        with torch.no_grad():
            assert torch.equal(loaded(x), net(x))


def test_official_file_round_trips_through_ganforge_format(tmp_path):
    G = load_official_sr(fixture_path("realesrgan_rrdb_tiny.pth"))
    save_sr(G, tmp_path / "rrdb.safetensors")
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(load_sr_weights(tmp_path / "rrdb.safetensors")(x), G(x))


def test_bad_safetensors_are_refused(tmp_path):
    net = build_sr_generator(SRNetConfig(num_feat=4, num_conv=1, scale=2))
    save_sr(net, tmp_path / "ok.safetensors")
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(tmp_path / "ok.safetensors"))
    save_file(tensors, str(tmp_path / "nometa.safetensors"))
    with pytest.raises(UserError, match="not a ganforge SR weights file"):
        load_sr(tmp_path / "nometa.safetensors")
    cfg = json.dumps({"arch": "srvgg", "num_feat": 8, "num_conv": 1, "scale": 2})
    save_file(tensors, str(tmp_path / "wrong.safetensors"),
              metadata={"format": "ganforge-sr-v1", "kind": "generator", "config": cfg})
    with pytest.raises(UserError, match=r"'body.0.weight' has shape \(4, 3, 3, 3\), expected \(8, 3, 3, 3\)"):
        load_sr(tmp_path / "wrong.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00junk" * 4)
    with pytest.raises(UserError, match="not a readable safetensors file"):
        load_sr(tmp_path / "junk.safetensors")
