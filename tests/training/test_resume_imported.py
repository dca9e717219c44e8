"""`ganforge train --resume DIR` of a `ganforge import` directory: the snapshot's G, G_ema and D with fresh
optimisers, at the image count and ADA p the official file records; `--resume SNAPSHOT.pkl` names the right flag."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from official_fixtures import fixture_path
from PIL import Image

from ganforge.cli.main import main
from ganforge.interop.convert import import_snapshot
from ganforge.training import Trainer
from ganforge.training.checkpoint import import_state, list_checkpoints, read_state, read_tensors
from ganforge.training.overrides import update_from_dict
from ganforge.training.presets import get_preset


@pytest.fixture(scope="module")
def imports(tmp_path_factory) -> dict[str, Path]:
    """Each fixture snapshot imported once; tests train in copies."""
    root = tmp_path_factory.mktemp("imports")
    return {name: import_snapshot(fixture_path(f"{name}.pkl"), root / name)
            for name in ("stylegan2ada_tiny", "stylegan3t_tiny", "r3gan_tiny")}


def _copy(imports: dict[str, Path], name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(imports[name], tmp_path / name))


def _images(tmp_path: Path, n: int = 8) -> str:
    """A folder of n random 32x32 RGB PNGs (the fixtures' resolution and channels)."""
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(n):
        pixels = np.random.RandomState(i).randint(0, 256, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.png")
    return str(folder)


def _train(argv: list[str], capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["train", *argv])
    return code, capsys.readouterr().err


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """Largest difference of two state dicts, each tensor relative to its own scale (StyleGAN's stored mapping
    biases reach ~100); w_avg left out, a buffer G's training passes move and G_ema copies."""
    assert set(a) == set(b)
    return max(float((a[k].float() - b[k].float()).abs().max() / b[k].float().abs().max().clamp(min=1))
               for k in a if a[k].is_floating_point() and not k.endswith("w_avg"))


def test_resume_of_a_pkl_names_init_from_and_import(capsys):
    pkl = str(fixture_path("stylegan2ada_tiny.pkl"))
    code, err = _train(["--resume", pkl], capsys)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert f"--init-from {pkl}" in err and f"ganforge import {pkl}" in err


def test_resume_of_an_import_needs_a_length(imports, tmp_path, capsys):
    run = _copy(imports, "stylegan2ada_tiny", tmp_path)
    code, err = _train(["--resume", str(run), "--data", _images(tmp_path)], capsys)
    assert code == 2 and "--kimg" in err and "--preset" in err and "Traceback" not in err
    assert [p.name for p in list_checkpoints(run)] == ["ckpt-0000000k000000000"]  # nothing written


def test_stylegan2_import_continues_with_a_preset_recipe_and_fresh_optimisers(imports, tmp_path, capsys):
    run = _copy(imports, "stylegan2ada_tiny", tmp_path)
    imported = list_checkpoints(run)[0]
    code, err = _train(["--resume", str(run), "--preset", "sg2-cpu", "--data", _images(tmp_path), "--kimg", "0.004",
                        "--batch-size", "4", "grid_size=4", "log_every_kimg=0.004"], capsys)
    assert code == 0, err
    lines = [line for line in err.splitlines() if line.startswith("ganforge: resuming")]
    assert len(lines) == 1 and "fresh optimiser states" in lines[0] and "no image count" in lines[0]
    assert "Traceback" not in err

    new = list_checkpoints(run)[-1]
    state = read_state(new)
    assert "import" in read_state(imported) and new != imported  # the import stays beside the run's checkpoints
    assert (state["cur_nimg"], state["step"]) == (4, 1) and set(state["optimizers"]) == {"G", "D"}
    assert read_tensors(new, "optim_G")  # Adam moments after one step
    # G_ema continued from the snapshot's G_ema (the fixture's G_ema = G + noise): with the EMA ramp-up restarted
    # at 0 images it would have become G. D took one Adam step from the snapshot's D.
    g_ema_old, g_ema_new = read_tensors(imported, "G_ema"), read_tensors(new, "G_ema")
    assert _max_diff(g_ema_new, g_ema_old) < 0.1 * _max_diff(g_ema_new, read_tensors(imported, "G"))
    d_old, d_new = read_tensors(imported, "D"), read_tensors(new, "D")
    assert 0 < _max_diff(d_new, d_old) < 0.05

    config = json.loads((run / "config.json").read_text())  # now an ordinary run of the chosen recipe
    assert config["preset"] == "sg2-cpu" and config["loss"]["style_mixing"] == 0.9
    assert config["schedule"]["ema_rampup"] == 0 and config["net"] == read_state(imported)["config"]["net"]
    assert import_state(run) is None  # a later --resume continues the ganforge checkpoint


def test_r3gan_import_continues_at_the_recorded_image_count(imports, tmp_path, capsys):
    run = _copy(imports, "r3gan_tiny", tmp_path)
    code, err = _train(["--resume", str(run), "--data", _images(tmp_path), "--kimg", "0.036", "--batch-size", "4",
                        "grid_size=4", "log_every_kimg=0.004"], capsys)
    assert code == 0, err
    assert "at the 0.032 kimg the file records" in err and "Traceback" not in err
    state = read_state(list_checkpoints(run)[-1])
    assert (state["cur_nimg"], state["step"]) == (36, 1)
    assert json.loads((run / "config.json").read_text())["schedule"]["burnin_kimg"] == 2000  # schedules go on


def test_stylegan3_import_resumes_at_the_official_ada_p(imports, tmp_path, capsys):
    run = _copy(imports, "stylegan3t_tiny", tmp_path)
    saved = json.loads((run / "config.json").read_text())
    cfg = update_from_dict(get_preset(saved["preset"]), saved)
    cfg.out, cfg.data, cfg.kimg, cfg.batch_size = str(run), _images(tmp_path), 0.004, 4
    trainer = Trainer(cfg, resume=True)
    assert "ganforge: resuming" in capsys.readouterr().err
    assert trainer.aug_ctrl.p == trainer.augment.p == pytest.approx(0.125) and trainer.cur_nimg == 0
    own = {k: v.cpu() for k, v in trainer.G_ema.state_dict().items()}
    assert _max_diff(own, read_tensors(list_checkpoints(run)[0], "G_ema")) == 0
    assert cfg.schedule.burnin_kimg == 0  # no recorded count: the burn-ins are skipped, as in fine-tuning
