"""SD-GAN fine-tuning from the CLI (Sec. 4.1): `ganforge train --init-from CKPT --sd` starts from the checkpoint."""

from __future__ import annotations

import json

import torch
from PIL import Image

from ganforge.cli.main import main
from ganforge.training import checkpoint as ckpt

TINY = ["net.widths=[16,16,16,16]", "net.blocks=[1,1,1,1]", "net.cardinalities=[2,2,2,2]", "net.z_dim=8",
        "grid_size=4", "log_every_kimg=0.008", "snapshot_every_kimg=1", "--batch-size", "8"]


def test_finetune_from_another_runs_checkpoint_with_self_distillation(tmp_path):
    src, ft, other = tmp_path / "src", tmp_path / "ft", tmp_path / "other-data"
    assert main(["train", "--data", "digits", "--out", str(src), "--kimg", "0.016", *TINY]) == 0
    source = ckpt.list_checkpoints(src)[-1]
    other.mkdir()  # another dataset of the same shape (grey 32x32), as in fine-tuning FFHQ -> CelebA-HQ
    g = torch.Generator().manual_seed(0)
    for i in range(16):
        Image.fromarray(torch.randint(0, 256, (32, 32), generator=g, dtype=torch.uint8).numpy(), "L").save(
            other / f"{i}.png")
    # EMA half-life > 0 from the start so that G_ema lags G and L_SD > 0
    assert main(["train", "--data", str(other), "--out", str(ft), "--kimg", "0.016", "--init-from", str(src),
                 "--sd", "--sd-distance", "l1", "--sd-alpha", "0.5", "schedule.ema_halflife_kimg_start=0.01",
                 *TINY]) == 0
    cfg = ckpt.read_state(ckpt.list_checkpoints(ft)[-1])["config"]
    assert cfg["self_distill"] and cfg["sd"]["distance"] == "l1" and cfg["sd"]["alpha"] == 0.5
    assert cfg["init_from"] == str(src) and cfg["data"] == str(other)

    first, last = ckpt.list_checkpoints(ft)[0], ckpt.list_checkpoints(ft)[-1]
    assert ckpt.read_state(first)["cur_nimg"] == 0 and ckpt.read_state(last)["cur_nimg"] == 16
    for name in ("G", "G_ema", "D"):  # the fine-tuning run starts exactly from the source's weights ...
        want, got = ckpt.read_tensors(source, name), ckpt.read_tensors(first, name)
        assert want.keys() == got.keys()
        assert all(torch.equal(want[k], got[k]) for k in want), name
        after = ckpt.read_tensors(last, name)  # ... and then trains them
        assert any(not torch.equal(want[k], after[k]) for k in want if want[k].is_floating_point()), name
    assert ckpt.read_tensors(first, "optim_G") == {}  # fresh optimiser state, no moments from the source

    records = [json.loads(line) for line in (ft / "log.jsonl").read_text().splitlines()]
    sd_values = [r["L_SD"] for r in records if "L_SD" in r]
    assert len(sd_values) == 2 and all(torch.isfinite(torch.tensor(v)) for v in sd_values) and sd_values[-1] > 0


def test_sd_flags_set_the_config(capsys):
    assert main(["train", "--dry-run", "--sd"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["self_distill"] and cfg["sd"]["distance"] == "lpips-vgg" and cfg["sd"]["alpha"] == 1.0
    assert main(["train", "--dry-run", "--sd-alpha", "0"]) == 0  # alpha 0: self-distillation on, L_SD only logged
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["self_distill"] and cfg["sd"]["alpha"] == 0.0
    assert main(["train", "--dry-run"]) == 0
    assert not json.loads(capsys.readouterr().out)["self_distill"]
    assert main(["train", "--dry-run", "--sd", "sd.batch_fraction=2"]) == 2
    assert "batch_fraction" in capsys.readouterr().err
    assert main(["train", "--dry-run", "--sd-alpha", "-1"]) == 2
    assert "alpha" in capsys.readouterr().err


def test_finetuning_skips_the_burn_in_unless_overridden(capsys):
    assert main(["train", "--dry-run", "--init-from", "runs/x", "--sd"]) == 0
    assert json.loads(capsys.readouterr().out)["schedule"]["burnin_kimg"] == 0.0
    assert main(["train", "--dry-run", "--init-from", "runs/x", "schedule.burnin_kimg=5"]) == 0
    assert json.loads(capsys.readouterr().out)["schedule"]["burnin_kimg"] == 5.0
    assert main(["train", "--dry-run", "--sd"]) == 0  # training from scratch keeps the preset's burn-in
    assert json.loads(capsys.readouterr().out)["schedule"]["burnin_kimg"] > 0
