"""Real-ESRGAN's training pair pool: it mixes pairs across batches, keeps each LR with its HR, is seeded, refuses a
size that is not a multiple of the batch, and a sampler resumed from its state continues on the same batches."""

import pytest
import torch

from ganforge.data.dataset import DatasetError
from ganforge.data.degradation import DegradationConfig
from ganforge.data.sr_pairs import HRImages, SRPairSampler
from ganforge.data.sr_pool import PairPool

B = 2


def batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A fresh batch whose pixels encode (step, index): LR = (10 step + j) / 255, HR = LR + 1 / 255."""
    code = torch.tensor([10.0 * step + j for j in range(B)]).view(B, 1, 1, 1)
    return code.expand(B, 3, 2, 2) / 255.0, (code + 1).expand(B, 3, 4, 4) / 255.0


def run(pool: PairPool, steps: int) -> list[list[int]]:
    """The (10 step + index) codes of the pairs the pool hands out at each step; checks LR and HR stay paired."""
    out = []
    for s in range(steps):
        lr, hr = pool.swap(*batch(s), s, batch)
        codes = (lr[:, 0, 0, 0] * 255).round().long()
        assert torch.equal((hr[:, 0, 0, 0] * 255).round().long(), codes + 1)  # every LR keeps its own HR
        out.append(codes.tolist())
    return out


def test_pool_fills_then_mixes_pairs_of_earlier_batches():
    out = run(PairPool(6, B, seed=0), 12)
    assert out[:3] == [[0, 1], [10, 11], [20, 21]]  # filling: the batches pass through unchanged
    later = out[3:]
    assert all(code // 10 < s + 3 for s, codes in enumerate(later) for code in codes)  # only pairs seen before
    assert any(codes[0] // 10 != codes[1] // 10 for codes in later)  # a batch mixes two batches' pairs
    assert any(code // 10 < s + 2 for s, codes in enumerate(later) for code in codes)  # some wait several steps


def test_pool_is_deterministic_for_a_seed():
    assert run(PairPool(6, B, seed=3), 12) == run(PairPool(6, B, seed=3), 12)
    assert run(PairPool(6, B, seed=3), 12) != run(PairPool(6, B, seed=4), 12)


@pytest.mark.parametrize("size, batch_size, match", [
    (5, 2, "not a multiple of the batch 2 .*use 4 or 6"),
    (0, 2, "size must be an integer >= 1"),
    (4, 0, "batch must be an integer >= 1"),
])
def test_pool_refuses_a_bad_size(size, batch_size, match):
    with pytest.raises(DatasetError, match=match):
        PairPool(size, batch_size, seed=0)


def test_pool_refuses_a_batch_of_another_size_and_a_foreign_state():
    pool = PairPool(4, B, seed=0)
    with pytest.raises(DatasetError, match="batches of 2"):
        pool.swap(torch.zeros(3, 3, 2, 2), torch.zeros(3, 3, 4, 4), 0, batch)
    with pytest.raises(ValueError, match=r"sr\.pool_size"):
        pool.load_state_dict([[0, 0], [0, 1], [1, 0], [1, 1], [2, 0], [2, 1]], step=3)  # 6 pairs in a pool of 4
    with pytest.raises(ValueError, match=r"sr\.pool_size"):
        pool.load_state_dict([[5, 0], [5, 1]], step=3)  # a step that has not happened


def photos() -> HRImages:
    g = torch.Generator().manual_seed(0)
    imgs = [torch.randint(0, 256, (3, 24, 28), generator=g, dtype=torch.uint8) for _ in range(3)]
    return HRImages(imgs, ["a", "b", "c"], "random", "test")


def test_sampler_with_a_pool_resumes_on_the_same_batches():
    def sampler():
        return SRPairSampler(photos(), crop=8, scale=2, batch_size=B, seed=5,
                             degradation=DegradationConfig(mode="bicubic"), pool_size=4)

    a = sampler()
    for _ in range(5):  # past the filling: the pool now holds pairs of several steps
        a.next()
    state = a.state_dict()
    assert state["step"] == 5 and len(state["pool"]) == 4 and len({s for s, _ in state["pool"]}) >= 2
    b = sampler()
    b.load_state_dict(state)
    for _ in range(4):
        (lr_a, hr_a), (lr_b, hr_b) = a.next(), b.next()
        assert torch.equal(lr_a, lr_b) and torch.equal(hr_a, hr_b)
    fresh = sampler()
    fresh.load_state_dict({"seed": 5, "step": 5})  # a checkpoint from before the pool: it starts empty
    assert len(fresh.pool) == 0 and torch.equal(fresh.next()[1], fresh.draw(5)[1])
