"""`ganforge import` end to end: the imported run works with generate and fine-tuning; bad files exit 2."""

import numpy as np
import pytest
import torch
from helpers import tiny_dataset, tiny_train_config
from official_fixtures import fixture_path, reference
from PIL import Image

from ganforge.cli.main import main
from ganforge.training import Trainer
from ganforge.training.finetune import checkpoint_net
from ganforge.training.load import load_discriminator, load_generator


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    out = tmp_path_factory.mktemp("import") / "r3gan"
    assert main(["import", str(fixture_path("r3gan_tiny.pkl")), str(out)]) == 0
    return out


def test_import_writes_a_run_that_reproduces_the_official_outputs(imported, tmp_path, capsys):
    ref = reference("r3gan_tiny_reference.npz")
    G, D = load_generator(imported), load_discriminator(imported)
    z = torch.from_numpy(ref["z"]).float()
    with torch.no_grad():
        img = torch.cat([G(z[i:i + 1]) for i in range(len(z))])
        logits = D(torch.from_numpy(ref["img"]))
    torch.testing.assert_close(img, torch.from_numpy(ref["img"]), atol=1e-4, rtol=0)
    torch.testing.assert_close(logits, torch.from_numpy(ref["d_logits"]), atol=1e-4, rtol=0)

    assert main(["generate", str(imported), "--seeds", "0-1", "--outdir", str(tmp_path / "png")]) == 0
    for seed in (0, 1):
        assert np.asarray(Image.open(tmp_path / "png" / f"seed{seed:04d}.png")).shape == (32, 32, 3)
    assert "imported r3gan snapshot" not in capsys.readouterr().err


def test_bad_file_and_occupied_out_dir_exit_2_with_one_line(imported, tmp_path, capsys):
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"not a pickle at all")
    assert main(["import", str(bad), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ganforge import: error:") and err.count("\n") == 1
    assert not (tmp_path / "out").exists()
    assert main(["import", str(fixture_path("r3gan_tiny.pkl")), str(imported)]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_fine_tuning_starts_from_the_imported_run(imported, tmp_path):
    cfg = tiny_train_config(str(tmp_path / "ft"), init_from=str(imported), batch_size=2, kimg=0.002)
    cfg.net = checkpoint_net(imported)  # what `ganforge train --init-from` does
    trainer = Trainer(cfg, dataset=tiny_dataset(4, channels=3))
    start = load_generator(imported).state_dict()
    assert all(torch.equal(trainer.G_ema.state_dict()[k], v) for k, v in start.items())
    trainer.train()
    assert load_generator(tmp_path / "ft").cfg.resample_border == "zero"
