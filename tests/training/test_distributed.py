"""torchrun with 2 CPU processes (gloo) matches single-process training at the same global batch."""

import json
import os
import subprocess
import sys

import pytest
import torch

from ganforge import load_generator

ARGS = ["--data", "digits", "--batch-size", "8", "--seed", "3", "data_size=64", "net.widths=[16,16,16,16]",
        "net.blocks=[1,1,1,1]", "net.cardinalities=[2,2,2,2]", "net.z_dim=8", "grid_size=4",
        "net.pack=1",  # 4 images per process: packs of 4 would change minibatch-std's groups with the process count
        "log_every_kimg=0.008", "snapshot_every_kimg=1", "schedule.ema_halflife_kimg_end=0.02",
        "schedule.burnin_kimg=0.05", "metrics=fid@classifier-mnist,kid@classifier-mnist", "metrics_num=51",
        "metrics_every_kimg=0.016"]


def run(cmd: list[str], env_extra: dict | None = None) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


def torchrun(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "ganforge",
            *args]


def weights(run_dir) -> dict[str, torch.Tensor]:
    return {**{f"ema.{k}": v for k, v in load_generator(run_dir).state_dict().items()},
            **{f"live.{k}": v for k, v in load_generator(run_dir, ema=False).state_dict().items()}}


@pytest.mark.slow
def test_two_process_gloo_matches_single_process_and_resumes(tmp_path):
    single, multi = tmp_path / "single", tmp_path / "multi"
    run([sys.executable, "-m", "ganforge", "train", "--out", str(single), "--kimg", "0.032", *ARGS])
    run(torchrun("train", "--out", str(multi), "--kimg", "0.016", *ARGS))
    run(torchrun("train", "--resume", str(multi), "--kimg", "0.032"))
    a, b = weights(single), weights(multi)
    assert a.keys() == b.keys()
    moved = 0
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=k)
        moved += int(not torch.equal(a[k], torch.zeros_like(a[k])))
    assert moved > 0
    log = [json.loads(line) for line in (multi / "log.jsonl").read_text().splitlines()]
    assert sum("loss_D" in r for r in log) == 4  # rank 0 alone logs: one record per 8 images
    assert sum(any(k.startswith("metric/") for k in r) for r in log) == 2
    # metrics: each rank embedded half the samples; the gathered values match the single-process run's
    rows = [[json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()] for d in (single, multi)]
    assert [r["kimg"] for r in rows[0]] == [r["kimg"] for r in rows[1]] == [0.016, 0.032]
    for one, two in zip(*rows, strict=True):
        for key in ("fid@classifier-mnist", "kid@classifier-mnist"):
            assert two[key] == pytest.approx(one[key], rel=1e-3, abs=1e-6), key
