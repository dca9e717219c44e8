"""`ganforge evaluate`: two image folders, a checkpoint (stand-in loader), JSON output, .npz statistics."""

from __future__ import annotations

import json

import numpy as np
import torch
from metrics_stubs import TinyGenerator
from PIL import Image

import ganforge
from ganforge.cli.main import main
from ganforge.metrics import generate_images


def write_pngs(folder, images: torch.Tensor) -> None:
    folder.mkdir(parents=True)
    for i, img in enumerate(images):
        Image.fromarray(img.permute(1, 2, 0).numpy()).save(folder / f"{i:04d}.png")


def test_two_folders_table_and_json(tiny_extractor, tmp_path, capsys):
    real_dir, fake_dir = tmp_path / "real", tmp_path / "fake"
    write_pngs(real_dir, generate_images(TinyGenerator(), 120, seed=1))
    write_pngs(fake_dir, generate_images(TinyGenerator(shift=0.5), 100, seed=2))
    out_json = tmp_path / "out.json"
    code = main(["evaluate", "--real", str(real_dir), "--fake", str(fake_dir), "--metrics", "fid,kid,pr",
                 "--features", "tiny", "--kid-subset-size", "50", "--kid-subsets", "4", "--json", str(out_json),
                 "--cache-dir", str(tmp_path / "cache")])
    assert code == 0
    table = capsys.readouterr().out
    assert "fid" in table and "precision" in table
    record = json.loads(out_json.read_text())
    assert record["num"] == 100 and record["metrics"]["fid"] > 0
    assert set(record["metrics"]) == {"fid", "kid", "kid_std", "precision", "recall"}


def test_checkpoint_mode_and_saved_statistics(tiny_extractor, tmp_path, monkeypatch, capsys):
    real_dir = tmp_path / "real"
    write_pngs(real_dir, generate_images(TinyGenerator(), 80, seed=1))
    loaded = []
    monkeypatch.setattr(ganforge, "load_generator", lambda path, device="cpu": loaded.append(path) or TinyGenerator())
    stats = tmp_path / "real_stats.npz"
    code = main(["evaluate", "run/ckpt-000100", "--data", str(real_dir), "--metrics", "fid", "--num", "64",
                 "--features", "tiny", "--save-stats", str(stats), "--no-disk-cache"])
    assert code == 0 and loaded == ["run/ckpt-000100"]
    with np.load(stats, allow_pickle=False) as f:
        assert set(f.files) == {"mu", "sigma"} and f["mu"].shape == (204,)
    first = capsys.readouterr().out
    # the saved statistics are a valid reference for fid
    main(["evaluate", "run/ckpt-000100", "--data", str(stats), "--metrics", "fid", "--num", "64",
          "--features", "tiny", "--no-disk-cache"])
    fid_line = lambda text: next(ln for ln in text.splitlines() if ln.startswith("fid"))  # noqa: E731
    assert fid_line(capsys.readouterr().out) == fid_line(first)


def test_usage_errors(tmp_path, capsys):
    assert main(["evaluate", "--data", "digits"]) == 2  # neither checkpoint nor --fake
    assert "nothing to evaluate" in capsys.readouterr().err


def test_missing_inception_weights_exit_with_the_fix(tmp_path, monkeypatch, capsys):
    from ganforge.metrics.features import inception as inc

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.delenv(inc.ENV_WEIGHTS, raising=False)
    monkeypatch.delenv(inc.ENV_DOWNLOAD, raising=False)
    real_dir, fake_dir = tmp_path / "real", tmp_path / "fake"
    write_pngs(real_dir, generate_images(TinyGenerator(), 4, seed=1))
    write_pngs(fake_dir, generate_images(TinyGenerator(), 4, seed=2))
    assert main(["evaluate", "--real", str(real_dir), "--fake", str(fake_dir), "--metrics", "fid",
                 "--no-disk-cache"]) == 2
    err = capsys.readouterr().err
    assert inc.WEIGHTS_FILE in err and "--weights" in err and "Traceback" not in err  # the fix spells out where
