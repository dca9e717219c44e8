"""Never lose a run: signals, kill -9, partial checkpoints, and loading that never executes pickled code."""

import json
import os
import pickle
import signal
import subprocess
import sys
import time

import pytest
import torch

from ganforge import load_generator
from ganforge.training.checkpoint import CheckpointError, list_checkpoints, read_state

ARGS = ["--data", "digits", "--batch-size", "8", "data_size=64", "net.widths=[16,16,16,16]", "net.blocks=[1,1,1,1]",
        "net.cardinalities=[2,2,2,2]", "net.z_dim=8", "grid_size=4", "log_every_kimg=0.008",
        "snapshot_every_kimg=0.016"]


def start(run_dir, kimg="100") -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "ganforge", "train", "--out", str(run_dir), "--kimg", kimg, *ARGS],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(predicate, timeout=240.0) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise TimeoutError("condition not reached")


def logged_steps(run_dir) -> int:
    path = run_dir / "log.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_checkpoints_and_exits_cleanly(tmp_path, sig):
    run = tmp_path / "run"
    proc = start(run)
    wait_for(lambda: logged_steps(run) >= 2)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err[-2000:]
    assert f"ganforge train --resume {run}" in out
    last = read_state(list_checkpoints(run)[-1])
    assert last["cur_nimg"] >= 16 and last["cur_nimg"] % 8 == 0
    logged = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert max(r["kimg"] for r in logged if "kimg" in r) * 1000 <= last["cur_nimg"]


@pytest.mark.slow
def test_kill_9_then_resume_from_last_complete_checkpoint(tmp_path):
    run = tmp_path / "run"
    proc = start(run)
    wait_for(lambda: any(read_state(p)["cur_nimg"] > 0 for p in list_checkpoints(run)))
    proc.kill()
    proc.wait()
    # a checkpoint interrupted mid-write looks like this: a temp folder, or a folder without state.json
    (run / ".ckpt-9999999k999999999.tmp").mkdir()
    (run / "ckpt-9999999k999999998").mkdir()
    good = list_checkpoints(run)[-1]
    assert good.name != "ckpt-9999999k999999998"
    # read now: when the kill landed between a checkpoint's last write and its rename, `good` is the complete
    # .tmp copy, which the resume moves into place
    good_nimg = read_state(good)["cur_nimg"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "ganforge", "train", "--resume", str(run), "--kimg",
                           str(good_nimg / 1000 + 0.008)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert read_state(list_checkpoints(run)[-1])["cur_nimg"] == good_nimg + 8


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_loading_never_executes_pickles(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    with open(evil, "wb") as f:
        pickle.dump({"weight": _Payload(marker)}, f)
    # as an exported generator file
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        load_generator(evil)
    assert not marker.exists()
    # as the tensors of a checkpoint directory
    ck = tmp_path / "ckpt-0000000k000000000"
    ck.mkdir()
    (ck / "state.json").write_text(json.dumps({"config": {"net": {}}}))
    (ck / "G_ema.safetensors").write_bytes(evil.read_bytes())
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_generator(ck)
    assert not marker.exists()
    # where a .pth is accepted at all (Inception, torchvision backbones) it goes through weights_only=True
    with pytest.raises(pickle.UnpicklingError):
        torch.load(evil, weights_only=True)
    from ganforge.metrics.features.inception import FIDInceptionV3, load_inception_state

    with pytest.raises(pickle.UnpicklingError):
        load_inception_state(FIDInceptionV3(), evil)
    assert not marker.exists()


def test_checkpoint_validation_rejects_nonfinite_and_wrong_dtype(tmp_path):
    from safetensors.torch import save_file

    from ganforge.networks import Generator, NetworkConfig
    from ganforge.training.checkpoint import load_module, module_tensors

    cfg = NetworkConfig(widths=[16] * 4, blocks=[1] * 4, cardinalities=[2] * 4, z_dim=8)
    G = Generator(cfg)
    t = module_tensors(G)
    bad = dict(t)
    key = next(iter(bad))
    bad[key] = bad[key].clone().fill_(float("nan"))
    with pytest.raises(CheckpointError, match="non-finite"):
        load_module(Generator(cfg), bad, "G")
    wrong = {**t, key: t[key].double()}
    with pytest.raises(CheckpointError, match="float64"):
        load_module(Generator(cfg), wrong, "G")
    save_file(t, str(tmp_path / "ok.safetensors"))
