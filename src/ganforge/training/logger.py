"""Run logging: JSONL (one record per interval) plus TensorBoard scalars when tensorboard is installed."""

from __future__ import annotations

import json
import math
from pathlib import Path


class RunLogger:
    def __init__(self, run_dir: Path, enabled: bool = True):
        self.enabled = enabled
        self.path = run_dir / "log.jsonl"
        self.tb = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(run_dir / "tensorboard"))
            except ImportError:
                self.tb = None

    def log(self, record: dict) -> None:
        if not self.enabled:
            return
        clean = {k: (v if not isinstance(v, float) or math.isfinite(v) else str(v)) for k, v in record.items()}
        with open(self.path, "a") as f:
            f.write(json.dumps(clean) + "\n")
        if self.tb is not None:
            step = int(record.get("kimg", 0) * 1000)
            for k, v in record.items():
                if isinstance(v, (int, float)) and k != "kimg" and math.isfinite(v):
                    self.tb.add_scalar(k.replace(".", "/"), v, step)
            self.tb.flush()

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
