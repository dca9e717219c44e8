"""The one training loop: named stages in order, with the log / snapshot / evaluation cadence every run shares.

A host supplies one iteration and the run-directory actions (the `LoopHost` hooks): `training.trainer.Trainer` for
the GAN recipes (R3GAN, StyleGAN2-ADA, SD-GAN self-distillation, task=sr) and the compression runs of
`ganforge.compress.runner`, whose distillation methods are staged recipes (`training.stages`). The loop decides
when each action happens; the host decides what it does.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from itertools import accumulate
from typing import Protocol

from tqdm import tqdm

from ganforge.training.logger import RunLogger


class Cadence:
    """Due every `every` images counted from `start`; every <= 0 means never."""

    def __init__(self, every: float, start: int):
        self.every, self.start = every, start
        self.next = start + every if every > 0 else math.inf

    def due(self, cur_nimg: int) -> bool:
        return cur_nimg >= self.next

    def advance(self) -> None:
        self.next += self.every

    def realign(self, cur_nimg: int) -> None:
        """After an action off the cadence (a stage's closing log record): the next grid point after cur_nimg."""
        if self.every > 0:
            self.next = self.start + ((cur_nimg - self.start) // self.every + 1) * self.every


class LoopHost(Protocol):
    """What `run_stages` needs from a run: its counters, logger, one iteration and the actions it schedules."""

    cur_nimg: int
    step: int
    logger: RunLogger

    def begin_stage(self, stage: str) -> None: ...

    def train_step(self) -> dict[str, float]:
        """One iteration (advancing cur_nimg); "nonfinite" names a non-finite term when the update was refused."""
        ...

    def should_stop(self) -> bool: ...

    def handle_nonfinite(self, term: str) -> None: ...

    def log_record(self, stage: str, sec_per_kimg: float, terms: dict) -> dict: ...

    def save_checkpoint(self) -> object: ...

    def save_grid(self) -> object: ...

    def evaluate_during(self, stage: str) -> None:
        """The evaluation due by the cadence inside a stage."""
        ...

    def end_stage(self, stage: str) -> None:
        """After a stage's last step (the distillation runs select their model here, SDAKD Sec. 4.2)."""
        ...


def run_stages(host: LoopHost, stages: Sequence[tuple[str, float]], log_every: float, snapshot_every: float,
               eval_every: float, progress: bool = False) -> str:
    """Run (name, kimg) stages in order from host.cur_nimg (a stage ends at the images of it and all before it);
    cadences are in images. Returns the last stage's name ("" for none)."""
    start = host.cur_nimg
    log, snap, ev = Cadence(log_every, start), Cadence(snapshot_every, start), Cadence(eval_every, start)
    ends = list(accumulate(int(kimg * 1000) for _, kimg in stages))
    total = ends[-1] if ends else 0
    # redrawn at most once a minute into a log file (every step there would write megabytes of bars)
    bar = tqdm(total=total, initial=min(start, total), unit="img", unit_scale=True, disable=not progress,
               dynamic_ncols=True, mininterval=0.1 if sys.stderr.isatty() else 60.0)
    t_start, stage = time.time(), ""
    try:
        for (stage, _), end in zip(stages, ends):
            host.begin_stage(stage)
            while host.cur_nimg < end and not host.should_stop():
                before = host.cur_nimg
                terms = host.train_step()
                bar.update(host.cur_nimg - before)
                if terms.get("nonfinite") is not None:
                    host.handle_nonfinite(terms["nonfinite"])
                    bar.n = min(host.cur_nimg, total)
                    continue
                cur = host.cur_nimg
                if log.due(cur) or cur >= end:  # a stage's last step is always logged
                    sec_per_kimg = (time.time() - t_start) / max((cur - start) / 1000, 1e-9)
                    host.logger.log(host.log_record(stage, sec_per_kimg, terms))
                    bar.set_postfix({k: f"{terms[k]:.3f}" for k in ("loss_D", "loss_G") if k in terms},
                                    s_kimg=f"{sec_per_kimg:.1f}", refresh=False)  # shown at the next redraw
                    if log.due(cur):
                        log.advance()
                    else:
                        log.realign(cur)
                if snap.due(cur):
                    host.save_checkpoint()
                    host.save_grid()
                    snap.advance()
                if ev.due(cur) and cur < end:
                    host.evaluate_during(stage)
                    ev.advance()
            if host.should_stop():
                break
            host.end_stage(stage)
    finally:
        bar.close()
    return stage


__all__ = ["Cadence", "LoopHost", "run_stages"]
