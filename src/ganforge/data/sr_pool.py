"""Real-ESRGAN's training pair pool (`queue_size`, 180 per GPU in the released options): degraded (LR, HR) pairs kept
across batches and handed out in random order, so one batch mixes pairs of many degradations.

A batch's resize factors, resize modes and final JPEG order are shared by its images (ganforge.data.degradation),
so without the pool every batch is homogeneous in them. Real-ESRGAN (Wang et al. 2021, released code
realesrgan_model.py, `_dequeue_and_enqueue`) keeps a pool: while it fills, batches pass through and are copied in;
once full, the pool is shuffled, its first B pairs are the batch used for training and the new batch takes their
slots. `PairPool` does the same, seeded, on any device.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import torch

from ganforge.data.dataset import DatasetError

Pair = tuple[torch.Tensor, torch.Tensor]


def _to_u8(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] images on 8-bit levels (HR crops and quantised LR inputs are) as uint8, exactly; a quarter the memory."""
    return x.mul(255.0).round().clamp(0, 255).to(torch.uint8)


class PairPool:
    """A pool of `size` (LR, HR) pairs swapped with batches of `batch` pairs (size a multiple of batch, as the released
    code asserts). The shuffle of step s is seeded by (seed, s) alone, so every process's pool holds pairs of the same
    (step, index in that step's batch) origins: `state_dict` is that list of origins, and after `load_state_dict` the
    next `swap` refills the pool by redrawing those batches, which are deterministic in (seed, step, rank)."""

    def __init__(self, size: int, batch: int, seed: int) -> None:
        for name, v, lo in (("size", size, 1), ("batch", batch, 1)):
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise DatasetError(f"PairPool: {name} must be an integer >= {lo}, got {v!r}")
        if size % batch:
            raise DatasetError(f"PairPool: the pool size {size} is not a multiple of the batch {batch} (Real-ESRGAN "
                               f"requires it); use {size - size % batch or batch} or {size + batch - size % batch}")
        self.size, self.batch, self.seed = size, batch, seed
        self.lr: torch.Tensor | None = None
        self.hr: torch.Tensor | None = None
        self.origin: list[tuple[int, int]] = []  # (step, index) of the pair in each filled slot
        self._pending: list[tuple[int, int]] | None = None  # restored origins whose pixels are not redrawn yet

    def __len__(self) -> int:
        """Filled slots."""
        return len(self.origin) if self._pending is None else len(self._pending)

    def _permutation(self, step: int) -> torch.Tensor:
        digest = hashlib.sha256(f"sr-pool:{self.seed}:{step}".encode()).digest()
        g = torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & (2**63 - 1))
        return torch.randperm(self.size, generator=g)

    def _put(self, slots: slice, lr: torch.Tensor, hr: torch.Tensor) -> None:
        if self.lr is None or self.hr is None or self.lr.device != lr.device:
            self.lr = torch.zeros(self.size, *lr.shape[1:], dtype=torch.uint8, device=lr.device)
            self.hr = torch.zeros(self.size, *hr.shape[1:], dtype=torch.uint8, device=hr.device)
        self.lr[slots], self.hr[slots] = _to_u8(lr), _to_u8(hr)

    def _refill(self, draw: Callable[[int], Pair]) -> None:
        """Put the restored origins' pairs back: every batch they come from is drawn once more."""
        origins, self._pending, self.origin = self._pending or [], None, []
        for step in sorted({s for s, _ in origins}):
            lr, hr = draw(step)
            for slot, (s, j) in enumerate(origins):
                if s == step:
                    self._put(slice(slot, slot + 1), lr[j:j + 1], hr[j:j + 1])
        self.origin = list(origins)

    def swap(self, lr: torch.Tensor, hr: torch.Tensor, step: int, draw: Callable[[int], Pair]) -> Pair:
        """The batch to train on at `step` for the fresh batch (lr, hr): the batch itself while the pool fills (it is
        copied in), afterwards B random pool pairs, the fresh batch taking their slots. `draw(s)` redraws step s's
        fresh batch, needed once after load_state_dict."""
        if len(lr) != self.batch or len(hr) != self.batch:
            raise DatasetError(f"PairPool: got a batch of {len(lr)} pairs, the pool swaps batches of {self.batch}")
        if self._pending is not None:
            self._refill(draw)
        b, fresh = self.batch, [(step, j) for j in range(self.batch)]
        if len(self.origin) < self.size:  # filling: the batch goes through unchanged
            n = len(self.origin)
            self._put(slice(n, n + b), lr, hr)
            self.origin += fresh
            return lr, hr
        perm = self._permutation(step)
        self.origin = [self.origin[i] for i in perm.tolist()]
        assert self.lr is not None and self.hr is not None
        idx = perm.to(self.lr.device)
        self.lr, self.hr = self.lr[idx], self.hr[idx]
        out = (self.lr[:b].to(lr.dtype) / 255.0, self.hr[:b].to(hr.dtype) / 255.0)
        self._put(slice(0, b), lr, hr)
        self.origin[:b] = fresh
        return out

    def state_dict(self) -> list[list[int]]:
        """The origins of the filled slots, in slot order (JSON-ready; the pixels are redrawn on load)."""
        return [list(o) for o in (self.origin if self._pending is None else self._pending)]

    def load_state_dict(self, origins: list, step: int) -> None:
        """Restore the slots' origins saved at sampler step `step`; ValueError when they cannot come from this pool."""
        pairs = [(int(s), int(j)) for s, j in origins]
        bad = [o for o in pairs if not (0 <= o[0] < step and 0 <= o[1] < self.batch)]
        if len(pairs) > self.size or len(pairs) % self.batch or bad:
            raise ValueError(f"the saved training pair pool ({len(pairs)} pairs) does not fit a pool of {self.size} "
                             f"pairs in batches of {self.batch}; resume with the run's own sr.pool_size and batch_size")
        self.lr = self.hr = None
        self.origin, self._pending = [], pairs


__all__ = ["PairPool"]
