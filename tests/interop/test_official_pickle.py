"""The snapshot unpickler reads official StyleGAN/R3GAN pickles as records and refuses everything that could run."""

from __future__ import annotations

import collections
import os
import pickle
import sys
import types
import warnings

import pytest
import torch
from official_fixtures import fixture_path

from ganforge.errors import UserError
from ganforge.interop.official_pickle import Record, read_snapshot, state_dict


def _params(rec: Record) -> int:
    own = sum(t.numel() for t in (rec.state.get("_parameters") or {}).values() if t is not None)
    return own + sum(_params(c) for c in rec.children().values())


# Parameter counts stated in the fixtures' README, as counted by the official code.
@pytest.mark.parametrize(("name", "g_params", "d_params"), [
    ("stylegan2ada_tiny.pkl", 943_571, 1_153_473), ("stylegan2ada_tiny_cond.pkl", 948_371, 1_303_360),
    ("stylegan3t_tiny.pkl", 488_517, 288_993), ("r3gan_tiny.pkl", 294_592, 286_528),
    ("r3gan_tiny_cond.pkl", 303_424, 304_064)])
def test_official_snapshots_read_as_records(name, g_params, d_params):
    snap = read_snapshot(fixture_path(name))
    assert _params(snap["G_ema"]) == g_params and _params(snap["D"]) == d_params
    sd = state_dict(snap["G_ema"])
    assert all(isinstance(t, torch.Tensor) and torch.isfinite(t.float()).all() for t in sd.values())
    assert snap["training_set_kwargs"]["resolution"] == 32


def test_stylegan_records_keep_class_name_and_init_kwargs_not_source():
    snap = read_snapshot(fixture_path("stylegan2ada_tiny.pkl"))
    G = snap["G_ema"]
    assert G.persistent and G.class_name == "Generator"
    assert G.kwargs["z_dim"] == 64 and G.kwargs["synthesis_kwargs"]["channel_max"] == 128
    assert G.child("synthesis.b4.conv1").class_name == "SynthesisLayer"
    with pytest.raises(UserError, match="no sub-module 'b1024'"):
        G.child("synthesis.b1024")


class _Evil:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def test_foreign_global_is_refused_and_never_runs(tmp_path):
    marker, pkl = tmp_path / "pwned", tmp_path / "evil.pkl"
    pkl.write_bytes(pickle.dumps({"G": _Evil(str(marker))}, protocol=4))
    with pytest.raises(UserError, match=r"refusing global (posix|os|nt)\.system.*nothing from the file was executed"):
        read_snapshot(pkl)
    assert not marker.exists()


class _Persistent:
    """Pickles like a torch_utils.persistence object whose embedded module source writes a file when executed."""

    def __init__(self, marker: str) -> None:
        self.meta = {"type": "class", "version": 6, "class_name": "Generator", "state": {"z_dim": 8},
                     "module_src": f"open({marker!r}, 'w').write('ran')"}

    def __reduce__(self):
        return (sys.modules["torch_utils.persistence"]._reconstruct_persistent_obj, (self.meta,))


def test_embedded_module_source_is_never_executed(tmp_path, monkeypatch):
    fake = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):  # what the official loader does: exec the embedded source
        exec(meta["module_src"], {})
        return meta["state"]

    _reconstruct_persistent_obj.__module__ = fake.__name__
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    fake._reconstruct_persistent_obj = _reconstruct_persistent_obj
    monkeypatch.setitem(sys.modules, "torch_utils", types.ModuleType("torch_utils"))
    monkeypatch.setitem(sys.modules, "torch_utils.persistence", fake)
    marker, pkl = tmp_path / "ran", tmp_path / "snap.pkl"
    pkl.write_bytes(pickle.dumps({"G": _Persistent(str(marker))}, protocol=4))
    snap = read_snapshot(pkl)
    assert not marker.exists()
    assert snap["G"].class_name == "Generator" and snap["G"].state == {"z_dim": 8}
    pickle.loads(pkl.read_bytes())  # the stock unpickler does run it: the payload is real
    assert marker.exists()


class _View:
    """Reduces to torch's own tensor rebuild, but with a view larger than its storage."""

    def __init__(self, numel: int) -> None:
        with warnings.catch_warnings():  # TypedStorage is deprecated, but it is what official snapshots hold
            warnings.simplefilter("ignore")
            self.storage, self.numel = torch.zeros(4).storage(), numel

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2,
                (self.storage, 0, (self.numel,), (1,), False, collections.OrderedDict()))


def test_tensor_views_are_checked_against_their_storage(tmp_path):
    ok, bad = tmp_path / "ok.pkl", tmp_path / "bad.pkl"
    ok.write_bytes(pickle.dumps({"G": torch.nn.Identity(), "t": _View(4)}, protocol=4))
    bad.write_bytes(pickle.dumps({"G": torch.nn.Identity(), "t": _View(1 << 20)}, protocol=4))
    assert torch.equal(read_snapshot(ok)["t"], torch.zeros(4))
    with pytest.raises(UserError, match="tensor view of 1048576 elements on a storage of 4"):
        read_snapshot(bad)


def test_truncated_or_missing_files_are_one_line_errors(tmp_path):
    part = tmp_path / "part.pkl"
    part.write_bytes(fixture_path("r3gan_tiny.pkl").read_bytes()[:5000])
    with pytest.raises(UserError, match="not a readable snapshot pickle"):
        read_snapshot(part)
    with pytest.raises(UserError, match="no such snapshot file"):
        read_snapshot(tmp_path / "missing.pkl")
    other = tmp_path / "list.pkl"
    other.write_bytes(pickle.dumps([1, 2], protocol=4))
    with pytest.raises(UserError, match="not a network snapshot"):
        read_snapshot(other)
