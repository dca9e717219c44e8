"""p controllers: fixed, R3GAN's cosine burn-in, ADA's adaptive r_t controller, resume and distributed r_t."""

from __future__ import annotations

import itertools
import json
import math
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ganforge.augment import AdaptiveProbability, CosineProbability, FixedProbability, cosine_ramp


def logits_with_rate(r: float, n: int = 64) -> torch.Tensor:
    """Logits whose E[sign] is r (n * (1 + r) / 2 positives)."""
    pos = round(n * (1 + r) / 2)
    return torch.cat([torch.full((pos,), 2.0), torch.full((n - pos,), -2.0)])


def test_cosine_ramp_values():
    assert cosine_ramp(0, 0.55, 1000) == 0.0
    assert cosine_ramp(500, 0.55, 1000) == pytest.approx(0.275)
    assert cosine_ramp(250, 0.55, 1000) == pytest.approx(0.55 * (1 - math.cos(math.pi / 4)) / 2)
    assert cosine_ramp(1000, 0.55, 1000) == 0.55 and cosine_ramp(5000, 0.55, 1000) == 0.55
    assert cosine_ramp(10, 0.3, 0) == 0.3


def test_cosine_controller_follows_images_seen():
    ctrl = CosineProbability(target=0.5, burnin_kimg=1.0)
    assert ctrl.p == 0.0
    ps = [ctrl.update(nimg, 100) for nimg in range(0, 1500, 100)]
    assert all(b >= a for a, b in itertools.pairwise(ps))
    assert ps[5] == pytest.approx(0.25) and ps[-1] == 0.5


def test_fixed_controller_keeps_p_and_still_reports_r_t():
    ctrl = FixedProbability(0.3, interval=2)
    assert math.isnan(ctrl.stats()["r_t"])
    for step in range(4):
        assert ctrl.update(step * 8, 8, logits_with_rate(0.5, 8)) == 0.3
    assert ctrl.stats() == {"p": 0.3, "r_t": pytest.approx(0.5)}


def test_adaptive_raises_p_when_d_is_overconfident_on_reals():
    ctrl = AdaptiveProbability(target=0.6, speed_kimg=10.0, interval=4)
    for step in range(40):
        ctrl.update(step * 32, 32, logits_with_rate(0.9, 32))
    # 10 windows of 4 * 32 images, each moving p up by 128 / 10k.
    assert ctrl.p == pytest.approx(10 * 128 / 10_000)
    assert ctrl.stats()["r_t"] == pytest.approx(0.875)  # 28 of 32 positive


def test_adaptive_lowers_p_otherwise_and_clamps_at_zero():
    ctrl = AdaptiveProbability(target=0.6, speed_kimg=10.0, interval=4, p=0.05)
    for step in range(8):
        ctrl.update(step * 32, 32, logits_with_rate(0.0, 32))
    assert ctrl.p == pytest.approx(0.05 - 2 * 128 / 10_000)
    for step in range(200):
        ctrl.update(step * 32, 32, logits_with_rate(-0.5, 32))
    assert ctrl.p == 0.0


def test_adaptive_speed_zero_to_one_in_ada_kimg_images():
    """ADA default: p can go 0 -> 1 in 500k images."""
    ctrl = AdaptiveProbability(target=0.6, speed_kimg=500.0, interval=4)
    positive, seen, p_at_half = torch.ones(64), 0, None
    while ctrl.p < 1.0:
        ctrl.update(seen, 64, positive)
        seen += 64
        if p_at_half is None and seen >= 250_000:
            p_at_half = ctrl.p
    assert seen == pytest.approx(500_000, abs=4 * 64)
    assert p_at_half == pytest.approx(0.5, abs=0.01)


def test_adaptive_ignores_steps_without_logits_and_waits_for_the_window():
    ctrl = AdaptiveProbability(target=0.6, speed_kimg=1.0, interval=4)
    for step in range(3):
        assert ctrl.update(step, 16, torch.ones(16)) == 0.0
    assert ctrl.update(3, 16, None) > 0.0
    for step in range(4):
        ctrl.update(step, 16, None)
    assert ctrl.p == pytest.approx(64 / 1000)


def test_paired_fake_logits_make_r_t_relativistic():
    """RpGAN logits have no fixed zero: all-positive reals below their fakes mean D is *not* overconfident."""
    real, fake = torch.full((32,), 5.0), torch.full((32,), 6.0)
    plain = AdaptiveProbability(interval=1, speed_kimg=1.0, p=0.5)
    paired = AdaptiveProbability(interval=1, speed_kimg=1.0, p=0.5)
    plain.update(0, 32, real)
    paired.update(0, 32, real, fake)
    assert plain.r_t == 1.0 and plain.p > 0.5
    assert paired.r_t == -1.0 and paired.p < 0.5
    with pytest.raises(ValueError, match="equal shapes"):
        paired.update(0, 32, real, fake[:4])


def test_state_dict_is_json_and_resume_continues_identically():
    gen = torch.Generator().manual_seed(0)
    stream = [torch.randn(16, generator=gen) + 0.85 for _ in range(23)]  # r_t around the 0.6 target
    ref = AdaptiveProbability(target=0.6, speed_kimg=2.0, interval=4, p=0.5)
    first = AdaptiveProbability(target=0.6, speed_kimg=2.0, interval=4, p=0.5)
    ps_ref = [ref.update(i * 16, 16, s) for i, s in enumerate(stream)]
    for i, s in enumerate(stream[:10]):  # stop mid-window (10 % 4 != 0)
        first.update(i * 16, 16, s)
    blob = json.dumps(first.state_dict())
    resumed = AdaptiveProbability(target=0.6, speed_kimg=2.0, interval=4, p=0.5)
    resumed.load_state_dict(json.loads(blob))
    assert resumed.p == first.p and resumed.stats() == first.stats()
    ps_resumed = [resumed.update(i * 16, 16, s) for i, s in enumerate(stream[10:], start=10)]
    assert ps_resumed == ps_ref[10:]
    assert min(ps_ref) < 0.5 < max(ps_ref)  # p moved both ways, so the comparison is not trivial


def test_cosine_resume_restores_p_before_the_first_update():
    ctrl = CosineProbability(0.4, burnin_kimg=1.0)
    ctrl.update(600, 32)
    fresh = CosineProbability(0.4, burnin_kimg=1.0)
    fresh.load_state_dict(json.loads(json.dumps(ctrl.state_dict())))
    assert fresh.p == ctrl.p > 0
    with pytest.raises(ValueError, match="controller"):
        AdaptiveProbability().load_state_dict(ctrl.state_dict())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, port: int, out: dict) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        ctrl = AdaptiveProbability(target=0.6, speed_kimg=1.0, interval=2)
        # Rank 0 sees only positive logits, rank 1 only negative: the global r_t is 0, below the target.
        logits = torch.ones(8) if rank == 0 else -torch.ones(8)
        for step in range(2):
            ctrl.update(step * 16, 16, logits)
        out[rank] = (ctrl.r_t, ctrl.p)
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_r_t_is_all_reduced_across_ranks():
    with mp.Manager() as manager:
        out = manager.dict()
        mp.start_processes(_worker, args=(_free_port(), out), nprocs=2, join=True, start_method="fork")
        results = dict(out)
    assert results[0] == results[1] == (0.0, 0.0)
