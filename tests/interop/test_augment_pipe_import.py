"""`ganforge import` carries an official augment_pipe over: its p and transforms become the run's ADA config and
controller state (which `train --init-from` continues), and what ganforge cannot reproduce is listed in import.json."""

from __future__ import annotations

import collections
import json
import pickle
import sys
import types

import pytest
import torch
from helpers import tiny_dataset, tiny_train_config
from official_fixtures import fixture_path

from ganforge.cli.main import main
from ganforge.errors import UserError
from ganforge.interop.augment_pipe import convert_augment_pipe
from ganforge.interop.official_pickle import Record, read_snapshot
from ganforge.training import Trainer
from ganforge.training.checkpoint import read_state
from ganforge.training.finetune import checkpoint_net
from ganforge.training.load import resolve_checkpoint


class _Persistent:
    """Pickles a Record as official `torch_utils.persistence` does: `_reconstruct_persistent_obj(meta)`."""

    def __init__(self, rec: Record) -> None:
        self.meta = {"type": "class", "version": 6, "module_src": "# source omitted", "class_name": rec.class_name,
                     "state": _plain(rec.state)}

    def __reduce__(self):
        return (sys.modules["torch_utils.persistence"]._reconstruct_persistent_obj, (self.meta,))


def _plain(value):
    """What read_snapshot returned, back in pickle form: Records as persistent objects, its EasyDict stand-ins as
    plain dicts (the official files hold `dnnlib.util.EasyDict`, which the reader maps to a dict anyway)."""
    if isinstance(value, Record):
        return _Persistent(value)
    if isinstance(value, collections.OrderedDict):
        return collections.OrderedDict((k, _plain(v)) for k, v in value.items())
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_plain(v) for v in value)
    return value


@pytest.fixture
def persistence(monkeypatch):
    """A `torch_utils.persistence` module to pickle against; the test pickles never reach its function."""
    fake = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):
        raise AssertionError("ganforge must not call the pickle's own reconstruction")

    _reconstruct_persistent_obj.__module__ = fake.__name__
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    fake._reconstruct_persistent_obj = _reconstruct_persistent_obj
    monkeypatch.setitem(sys.modules, "torch_utils", types.ModuleType("torch_utils"))
    monkeypatch.setitem(sys.modules, "torch_utils.persistence", fake)


def _import(tmp_path, pkl, capsys) -> tuple:
    out = tmp_path / "run"
    capsys.readouterr()
    assert main(["import", str(pkl), str(out)]) == 0
    printed = capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    info = json.loads((out / "import.json").read_text())
    return out, printed, config, info


def test_official_augment_pipe_becomes_the_runs_ada_settings_and_p(tmp_path, capsys):
    out, printed, config, info = _import(tmp_path, fixture_path("stylegan3t_tiny.pkl"), capsys)
    # The fixture's pipe: --aug=ada with StyleGAN2-ADA's default 'bgc' transforms, p = 0.125.
    assert config["augment"] | {"kind": "ada", "preset": "bgc", "p_mode": "adaptive", "p": 0.125} == config["augment"]
    assert read_state(resolve_checkpoint(out))["augment"]["p"] == pytest.approx(0.125)
    assert info["augment_pipe"]["not_mapped"] == {} and "augment_pipe" not in info["not_imported"]
    lines = [line for line in printed.splitlines() if "augment:" in line]
    assert len(lines) == 1 and "p=0.1250" in lines[0] and "not mapped" not in lines[0]

    # Fine-tuning an imported run continues the official p (the training preset's ADA would restart at 0).
    cfg = tiny_train_config(str(tmp_path / "ft"), init_from=str(out), batch_size=2, kimg=0.002)
    cfg.net = checkpoint_net(out)
    cfg.augment.kind, cfg.augment.preset, cfg.augment.p_mode, cfg.augment.p = "ada", "bgc", "adaptive", None
    trainer = Trainer(cfg, dataset=tiny_dataset(4, channels=3))
    assert trainer.aug_ctrl.p == trainer.augment.p == pytest.approx(0.125)


def test_unsupported_transforms_and_strengths_are_listed_not_dropped_silently(tmp_path, capsys, persistence):
    snap = read_snapshot(fixture_path("stylegan3t_tiny.pkl"))
    pipe = snap["augment_pipe"]
    pipe.state.update(imgfilter=1.0, noise=0.5, xint_max=0.25, hue=0.0, hue_max=0.3)  # hue off: its strength is moot
    pipe.state["_buffers"] = {**pipe.state["_buffers"], "p": torch.tensor(0.4)}
    pkl = tmp_path / "snap.pkl"
    pkl.write_bytes(pickle.dumps(_plain(snap), protocol=4))
    _, printed, config, info = _import(tmp_path, pkl, capsys)
    assert info["augment_pipe"]["not_mapped"] == {"imgfilter": 1.0, "imgfilter_bands": [1, 1, 1, 1],
                                                  "imgfilter_std": 1.0, "noise": 0.5, "noise_std": 0.1,
                                                  "xint_max": 0.25}
    assert config["augment"]["p"] == pytest.approx(0.4) and "hue" not in config["augment"]["preset"]
    assert "saturation=1" in config["augment"]["preset"]  # an explicit list: not a named preset any more
    (line,) = [line for line in printed.splitlines() if "augment:" in line]
    assert "not mapped" in line and "imgfilter" in line and "xint_max" in line


def test_augment_pipe_records_are_checked():
    good = {"_buffers": {"p": torch.tensor(1.5)}, "xflip": 1.0}
    imported = convert_augment_pipe(Record("AugmentPipe", good, persistent=True))
    assert imported.config.preset == "xflip=1" and imported.p == 1.0 and imported.not_mapped == {"p": 1.5}
    assert convert_augment_pipe(Record("AugmentPipe", {"_buffers": {"p": torch.tensor(0.5)}})).config.kind == "none"
    for state, says in (({"xflip": 1.0}, "no finite scalar buffer p"),
                        ({"_buffers": {"p": torch.tensor(0.1)}, "xflip": "os.system"}, "not a finite number"),
                        ({"_buffers": {"p": torch.tensor(0.1)}, "rotate": -1.0}, "negative")):
        with pytest.raises(UserError, match=says):
            convert_augment_pipe(Record("AugmentPipe", state))
    with pytest.raises(UserError, match="not an official AugmentPipe"):
        convert_augment_pipe(Record("Generator", good))
