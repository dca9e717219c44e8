"""Family detection, refusal of a StyleGAN file whose networks disagree, refusal of hostile or broken pickles,
atomic run directories, and the on-the-fly import of a .pkl where a run is expected."""

import builtins
import os
import pickle
import sys
import types

import pytest
import torch
from official_fixtures import fixture_path, reference

from ganforge.errors import UserError
from ganforge.interop.convert import detect_family, import_snapshot
from ganforge.interop.official_pickle import read_snapshot
from ganforge.training.load import imported_snapshot_run, load_generator, resolve_checkpoint


@pytest.mark.parametrize(("name", "family"), [("r3gan_tiny.pkl", "r3gan"), ("r3gan_tiny_cond.pkl", "r3gan"),
                                              ("stylegan2ada_tiny.pkl", "stylegan2"),
                                              ("stylegan2ada_tiny_cond.pkl", "stylegan2"),
                                              ("stylegan3t_tiny.pkl", "stylegan3")])
def test_family_detection(name, family):
    assert detect_family(read_snapshot(fixture_path(name))) == family


def test_a_stylegan_snapshot_with_a_foreign_discriminator_is_refused(tmp_path, monkeypatch):
    snap = read_snapshot(fixture_path("stylegan2ada_tiny.pkl"))
    snap["D"] = read_snapshot(fixture_path("stylegan3t_tiny.pkl"))["D"]  # another channel_base: G and D disagree
    monkeypatch.setattr("ganforge.interop.convert.read_snapshot", lambda path: snap)
    with pytest.raises(UserError, match="G and D differ in channel_base") as e:
        import_snapshot(fixture_path("stylegan2ada_tiny.pkl"), tmp_path / "out")
    assert "\n" not in str(e.value)
    assert list(tmp_path.iterdir()) == []  # neither the run nor a temporary folder is left


class _Call:
    """Pickles as a call of `fn(*args)`: what a hostile snapshot would do on an ordinary pickle.load."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def _persistent_pickle(marker) -> bytes:
    """A StyleGAN-style persistent record whose module_src would create `marker` if it were executed."""
    pkg, mod = types.ModuleType("torch_utils"), types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):
        raise AssertionError("never called while pickling")

    _reconstruct_persistent_obj.__module__ = mod.__name__
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    mod._reconstruct_persistent_obj = _reconstruct_persistent_obj
    sys.modules.update({"torch_utils": pkg, "torch_utils.persistence": mod})
    try:
        meta = {"type": "class", "version": 6, "class_name": "Generator", "state": {"_modules": {}},
                "module_src": f"open({str(marker)!r}, 'w').write('ran')\nclass Generator: pass\n"}
        return pickle.dumps({"G_ema": _Call(_reconstruct_persistent_obj, meta)}, protocol=4)
    finally:
        del sys.modules["torch_utils"], sys.modules["torch_utils.persistence"]


def test_hostile_pickles_are_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "ran"
    files = {"system.pkl": pickle.dumps({"G": _Call(os.system, f"touch {marker}")}),
             "eval.pkl": pickle.dumps({"G": _Call(builtins.eval, f"open({str(marker)!r}, 'w')")}),
             "persistent.pkl": _persistent_pickle(marker)}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(UserError) as e:
            import_snapshot(tmp_path / name, tmp_path / "out")
        assert "\n" not in str(e.value)
        assert not marker.exists(), name
    assert not (tmp_path / "out").exists()
    with pytest.raises(UserError, match=r"refusing global (posix|os)\.system"):
        read_snapshot(tmp_path / "system.pkl")
    with pytest.raises(UserError, match=r"builtins\.eval"):
        read_snapshot(tmp_path / "eval.pkl")


def test_a_truncated_file_is_one_line(tmp_path):
    data = fixture_path("r3gan_tiny.pkl").read_bytes()
    (tmp_path / "cut.pkl").write_bytes(data[:len(data) // 2])
    with pytest.raises(UserError) as e:
        import_snapshot(tmp_path / "cut.pkl", tmp_path / "out")
    assert "\n" not in str(e.value) and "cut.pkl" in str(e.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.pkl"]


def test_import_never_replaces_a_run_without_overwrite(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="overwrite"):
        import_snapshot(fixture_path("r3gan_tiny.pkl"), out)
    assert (out / "keep.txt").read_text() == "mine"
    summary: dict = {}
    assert import_snapshot(fixture_path("r3gan_tiny.pkl"), out, overwrite=True, summary=summary) == out
    assert summary["family"] == "r3gan" and summary["params"] == {"G": 294_592, "D": 286_528}
    assert not (out / "keep.txt").exists() and (out / "config.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no temporary or old sibling left


def test_a_pkl_path_is_imported_once_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    pkl = fixture_path("r3gan_tiny_cond.pkl")
    run = imported_snapshot_run(pkl)
    assert run.parent == tmp_path / "cache" / "imports" and run.name.startswith("r3gan_tiny_cond-")
    assert resolve_checkpoint(pkl).parent == run
    stamp = (run / "config.json").stat().st_mtime_ns
    G = load_generator(pkl)  # the cached import is reused
    assert (run / "config.json").stat().st_mtime_ns == stamp
    ref = reference("r3gan_tiny_cond_reference.npz")
    z, c = torch.from_numpy(ref["z"]).float(), torch.from_numpy(ref["c"]).argmax(dim=1)
    with torch.no_grad():
        img = torch.cat([G(z[i:i + 1], c[i:i + 1]) for i in range(8)])
    torch.testing.assert_close(img, torch.from_numpy(ref["img"]), atol=1e-4, rtol=0)
    assert imported_snapshot_run(tmp_path / "other") == tmp_path / "other"  # not a .pkl: unchanged
