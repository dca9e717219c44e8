"""`ganforge dirac` through the package CLI entry point, and the Figure 2 runs it draws."""

from __future__ import annotations

import re

import numpy as np
from PIL import Image

from ganforge.cli.main import main
from ganforge.theory.dirac import VARIANTS, DiracConfig, Figure2Config, eigenvalues, figure2_runs


def _table_rows(out: str) -> dict[str, list[complex]]:
    rows = {}
    for line in out.splitlines():
        name = line.split(" ", 1)[0]
        if name in VARIANTS:
            rows[name] = [complex(z) for z in re.findall(r"[+-]\d+\.\d+[+-]\d+\.\d+j", line)]
    return rows


def test_cli_writes_figure_and_prints_eigenvalues(tmp_path, capsys):
    out_png = tmp_path / "f.png"
    assert main(["dirac", "--out", str(out_png)]) == 0
    img = np.asarray(Image.open(out_png).convert("RGB"))
    assert img.shape[0] > 300 and img.shape[1] > 600
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 50  # actually drawn, not blank
    rows = _table_rows(capsys.readouterr().out)
    assert set(rows) == set(VARIANTS)
    for variant, printed in rows.items():
        cfg = DiracConfig(variant=variant, lr_g=0.1, lr_d=0.1, ema_rate=0.05,
                          alpha=0.3 if variant in ("sd", "sd_ema") else None)
        np.testing.assert_allclose(printed, eigenvalues(cfg), atol=1e-4)


def test_cli_variant_filter_and_options(tmp_path, capsys):
    out_png = tmp_path / "sub" / "g.png"
    argv = ["dirac", "--out", str(out_png), "--variant", "sd", "--variant", "r1", "--alpha", "2.0", "--gamma",
            "0.5", "--f", "logistic", "--mode", "discrete", "--order", "alternating", "--t-end", "100"]
    assert main(argv) == 0
    assert out_png.exists()
    out = capsys.readouterr().out
    rows = _table_rows(out)
    assert set(rows) == {"sd", "r1"}
    sd = DiracConfig(variant="sd", lr_g=0.1, lr_d=0.1, ema_rate=0.05, alpha=2.0, f="logistic")
    np.testing.assert_allclose(rows["sd"], eigenvalues(sd), atol=1e-4)
    assert "True" in out and "(discrete)" in out


def test_figure2_runs_cycle_then_contract():
    """Panel (a): theta stays on its circle; panel (b): SD spirals (winds around 0) into the equilibrium."""
    runs = figure2_runs(Figure2Config())
    r_gan, r_sd = runs["ema"].radius, runs["sd_ema"].radius
    np.testing.assert_allclose(r_gan, r_gan[0], rtol=1e-6)
    assert r_sd[-1] < 0.05 * r_sd[0]
    x = runs["sd_ema"].x
    angle = np.unwrap(np.arctan2(x[:, 1], x[:, 0]))
    assert abs(angle[-1] - angle[0]) > 2 * 2 * np.pi  # a spiral with at least two turns, not a straight decay
