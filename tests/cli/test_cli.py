import json

import pytest
import torch
from PIL import Image

from ganforge import load_generator
from ganforge.cli.generate import parse_seeds
from ganforge.cli.main import main

TINY = ["net.widths=[16,16,16,16]", "net.blocks=[1,1,1,1]", "net.cardinalities=[2,2,2,2]", "net.z_dim=8",
        "grid_size=4", "log_every_kimg=0.008", "snapshot_every_kimg=1"]


def test_train_generate_resume_end_to_end(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--data", "digits", "--out", str(run), "--kimg", "0.016", "--batch-size", "8", *TINY]) == 0
    out = capsys.readouterr().out
    assert str(run / "samples") in out and "ganforge generate" in out
    assert list((run / "samples").glob("*.png")) and (run / "generator.safetensors").exists()
    G = load_generator(run)
    assert G.img_channels == 1 and G.z_dim == 8

    grid = tmp_path / "grid.png"
    assert main(["generate", str(run), "--seeds", "0-3", "--grid", str(grid), "--outdir", str(tmp_path / "imgs")]) == 0
    assert Image.open(grid).size == (64, 64)
    assert len(list((tmp_path / "imgs").glob("seed*.png"))) == 4
    # same seed -> same image, from the run dir and from the exported file alike
    a = Image.open(tmp_path / "imgs" / "seed0002.png")
    main(["generate", str(run / "generator.safetensors"), "--seeds", "2", "--outdir", str(tmp_path / "again")])
    assert a.tobytes() == Image.open(tmp_path / "again" / "seed0002.png").tobytes()

    assert main(["train", "--resume", str(run), "--kimg", "0.032"]) == 0
    state = json.loads(sorted(run.glob("ckpt-*"))[-1].joinpath("state.json").read_text())
    assert state["cur_nimg"] == 32


def test_dry_run_and_errors(tmp_path, capsys):
    assert main(["train", "--dry-run", "--preset", "cifar10"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["net"]["widths"] == [768] * 4 and cfg["augment"]["kind"] == "ada" and cfg["conditional"]
    assert main(["train", "--dry-run", "schedule.lr_ned=1"]) == 2
    assert "did you mean schedule.lr_end" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "config.json" in capsys.readouterr().err
    # a preset whose resolution does not match the data names what to change
    img_dir = tmp_path / "imgs"
    img_dir.mkdir()
    for i in range(2):
        Image.new("RGB", (64, 64), (i, 0, 0)).save(img_dir / f"{i}.png")
    assert main(["train", "--data", str(img_dir), "--out", str(tmp_path / "x"), *TINY]) == 2
    err = capsys.readouterr().err
    assert "net.widths" in err and "5 entries" in err


def test_default_demo_config(capsys):
    assert main(["train", "--dry-run"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["preset"] == "tiny" and cfg["data"] == "mnist5k" and cfg["out"] == "runs/demo"
    assert cfg["conditional"] and cfg["net"]["pack"] == 4  # digits of the class asked for, PacGAN packs per class
    assert cfg["kimg"] == 120 == cfg["schedule"]["burnin_kimg"]  # ~9 CPU minutes; the lr decay ends with the run
    assert main(["train", "--data", "mnist5k", "--dry-run"]) == 0
    assert not json.loads(capsys.readouterr().out)["conditional"]  # only the bare demo is conditional


def test_parse_seeds():
    assert parse_seeds("0-3,7") == [0, 1, 2, 3, 7]
    with pytest.raises(ValueError):
        parse_seeds("a-b")


def test_generate_rejects_bad_class(tmp_path, capsys):
    main(["train", "--data", "digits", "--out", str(tmp_path / "r"), "--kimg", "0.008", "--batch-size", "8", *TINY])
    assert main(["generate", str(tmp_path / "r"), "--class", "3"]) == 2
    assert "unconditional" in capsys.readouterr().err
    torch.manual_seed(0)
