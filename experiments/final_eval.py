"""What the claim scripts' post-evaluations share: the ttq real halves every number is measured against, a run's
final generator, and an architecture as config overrides."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
from common import load_ttq

_HALVES: dict[tuple[str, int | None], tuple[torch.Tensor, Any]] = {}


def real_reference(data: str, num: int | None) -> tuple[torch.Tensor, Any]:
    """ttq's fixed real halves (A as images, B as the reference set) of a dataset: every number is measured
    against half B, as the ttq points and the real floor are."""
    from ganforge.data import load_dataset

    key = (data, num)
    if key not in _HALVES:
        _HALVES[key] = load_ttq().real_halves(load_dataset(data), num)
    return _HALVES[key]


def final_generator(rec: dict, out: Path) -> Any:
    """The EMA generator of a run record's final checkpoint (a compress run: its selected generator)."""
    from ganforge.training.load import load_generator

    return load_generator(out / rec["checkpoint"])


def net_overrides(net: Any) -> list[str]:
    """`net.<field>=<json>` for every field of a NetworkConfig (the exact architecture as config overrides)."""
    return [f"net.{k}={json.dumps(v, separators=(',', ':'))}" for k, v in dataclasses.asdict(net).items()]
