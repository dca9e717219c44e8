"""Metric-vs-kimg PNG curves and the better/worse direction used to keep the best checkpoint."""

from __future__ import annotations

import json
import math

import pytest

from ganforge.metrics import is_better, metric_direction, plot_metric_curves, read_metric_log


def test_directions():
    assert metric_direction("fid") == "min" and metric_direction("kid@vgg16") == "min"
    assert metric_direction("recall") == "max" and metric_direction("modes") == "max"
    assert metric_direction("modes_kl") == "min"
    assert is_better("fid", 3.0, 4.0) and not is_better("fid", 5.0, 4.0)
    assert is_better("precision", 0.8, 0.7) and is_better("coverage", 0.1, None)
    assert not is_better("fid", math.nan, 4.0)
    with pytest.raises(KeyError):
        metric_direction("loss_G")


def test_plot_metric_curves_writes_a_png(tmp_path):
    log = tmp_path / "metrics.jsonl"
    rows = [{"kimg": k, "fid": 100 / (k + 1), "kid": 0.1 / (k + 1), "kid_std": 0.01, "precision": 0.5 + k / 100}
            for k in (0, 10, 20, 40)]
    log.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    assert len(read_metric_log(log)) == 4
    out = plot_metric_curves(log, tmp_path / "plots" / "metrics.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    with pytest.raises(ValueError, match="no metric values"):
        empty = tmp_path / "empty.jsonl"
        empty.write_text(json.dumps({"kimg": 0, "loss": 1.0}) + "\n")
        plot_metric_curves(empty, tmp_path / "e.png")
