"""`ganforge import` end to end: the imported R3GAN, StyleGAN2-ADA and StyleGAN3 runs reproduce the official outputs,
work with generate (also straight from the .pkl) and fine-tuning; bad files exit 2 with one line."""

import json

import numpy as np
import pytest
import torch
from helpers import tiny_dataset, tiny_train_config
from official_fixtures import fixture_path, reference
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ganforge.cli.main import main
from ganforge.compress.runner import load_teacher
from ganforge.compress.student import make_student
from ganforge.data import to_uint8
from ganforge.interop.convert import load_networks
from ganforge.training import Trainer
from ganforge.training.finetune import checkpoint_net
from ganforge.training.load import load_discriminator, load_generator

STYLEGAN = {"stylegan2ada_tiny": "stylegan2", "stylegan2ada_tiny_cond": "stylegan2", "stylegan3t_tiny": "stylegan3"}


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


@pytest.fixture(scope="module", params=sorted(STYLEGAN))
def stylegan_run(request, tmp_path_factory):
    out = tmp_path_factory.mktemp("import") / request.param
    assert main(["import", str(fixture_path(f"{request.param}.pkl")), str(out)]) == 0
    return request.param, out


def _assert_close(got: torch.Tensor, want: np.ndarray) -> None:
    """The fixtures README's tolerance: atol 1e-4, or 1e-4 of the array's max-abs (SG2-ADA images reach ~7)."""
    assert got.shape == want.shape
    assert float(np.abs(got.numpy() - want).max()) <= max(1e-4, 1e-4 * float(np.abs(want).max()))


def _labels(c: np.ndarray) -> torch.Tensor | None:
    """The references' one-hot c as ganforge's int64 labels (None when unconditional, c is [8, 0])."""
    return torch.from_numpy(c).argmax(dim=1) if c.shape[1] else None


def test_stylegan_import_writes_a_run_that_reproduces_the_official_outputs(stylegan_run):
    name, run = stylegan_run
    ref = reference(f"{name}_reference.npz")
    config = json.loads((run / "config.json").read_text())
    info = json.loads((run / "import.json").read_text())
    assert config["net"]["arch"] == STYLEGAN[name] == info["family"]
    assert info["source"] == f"{name}.pkl" and len(info["sha256"]) == 64
    G, D = load_generator(run), load_discriminator(run)
    z, labels = torch.from_numpy(ref["z"]).float(), _labels(ref["c"])
    one = [(z[i:i + 1], None if labels is None else labels[i:i + 1]) for i in range(len(z))]  # one seed at a time
    with torch.no_grad():
        for psi, key in ((1.0, "img_psi1"), (0.7, "img_psi07")):
            G.truncation_psi = psi  # the sampling settings are attributes; eval mode uses the constant noise
            _assert_close(torch.cat([G(*args) for args in one]), ref[key])
        _assert_close(D(torch.from_numpy(ref["img_psi1"]), labels), ref["d_logits"][:, 0])
        standalone = load_generator(run / "generator.safetensors")  # what `ganforge export --generator` reads
        _assert_close(torch.cat([standalone(*args) for args in one]), ref["img_psi1"])


def test_stylegan_generate_from_the_run_and_from_the_pkl(stylegan_run, tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    name, run = stylegan_run
    pkl = fixture_path(f"{name}.pkl")
    for source, out in ((run, "run"), (pkl, "pkl")):
        assert main(["generate", str(source), "--seeds", "0-2", "--outdir", str(tmp_path / out)]) == 0
    _, (_, _, g_ema, cfg) = load_networks(pkl)  # the official-layout networks the interop tests check
    for seed in range(3):
        from_run, from_pkl = (np.asarray(Image.open(tmp_path / out / f"seed{seed:04d}.png")) for out in ("run", "pkl"))
        assert np.array_equal(from_run, from_pkl)
        z = torch.randn(cfg.z_dim, generator=torch.Generator().manual_seed(seed))[None]
        c = torch.nn.functional.one_hot(torch.tensor([seed % cfg.c_dim]), cfg.c_dim).float() if cfg.c_dim else None
        with torch.no_grad():
            want = to_uint8(g_ema(z, c, noise_mode="const"))[0].permute(1, 2, 0).numpy()
        assert np.abs(from_run.astype(int) - want.astype(int)).max() <= 1  # PNG rounding only


def test_mismatched_or_broken_stylegan_files_exit_2_with_one_line(stylegan_run, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    name, run = stylegan_run
    other = "stylegan3t_tiny" if STYLEGAN[name] == "stylegan2" else "stylegan2ada_tiny"
    assert main(["import", str(fixture_path(f"{other}.pkl")), str(tmp_path / "theirs")]) == 0
    with safe_open(str(run / "generator.safetensors"), framework="pt") as f:
        ours = f.metadata()
    bad = tmp_path / "bad.safetensors"  # this run's network settings over the other family's weights
    save_file(load_file(str(tmp_path / "theirs" / "generator.safetensors")), str(bad), metadata=ours)
    data = fixture_path(f"{name}.pkl").read_bytes()
    (tmp_path / "cut.pkl").write_bytes(data[:len(data) // 2])
    for source, says in ((bad, "do not match"), (tmp_path / "cut.pkl", "cut.pkl")):
        capsys.readouterr()
        assert main(["generate", str(source), "--seeds", "0", "--outdir", str(tmp_path / "png")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("ganforge generate: error:") and err.count("\n") == 1 and says in err
    assert not (tmp_path / "png").exists()


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
def test_stylegan_export_writes_generator_onnx_and_torchscript_files(stylegan_run, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    from ganforge.compress.export import run_onnx

    name, run = stylegan_run
    out = tmp_path / "g.safetensors"
    assert main(["export", str(run), "--generator", str(out)]) == 0
    G, exported = load_generator(run), load_generator(out)
    assert exported.cfg == G.cfg and type(exported) is type(G)
    assert all(torch.equal(v, exported.state_dict()[k]) for k, v in G.state_dict().items())
    capsys.readouterr()
    onnx, ts = tmp_path / "g.onnx", tmp_path / "g.pt"
    assert main(["export", str(run), "--onnx", str(onnx), "--torchscript", str(ts), "--truncation", "0.7"]) == 0
    assert "max |difference|" in capsys.readouterr().out
    ref = reference(f"{name}_reference.npz")  # the official outputs at psi 0.7 with constant noise
    z, labels = torch.from_numpy(ref["z"]).float(), _labels(ref["c"])
    inputs = (z,) if labels is None else (z, labels)
    _assert_close(run_onnx(onnx, *inputs), ref["img_psi07"])
    with torch.no_grad():
        _assert_close(torch.jit.load(str(ts))(*inputs), ref["img_psi07"])


def test_compress_takes_stylegan2_teachers_and_refuses_stylegan3_with_one_line(stylegan_run, tmp_path, capsys):
    name, run = stylegan_run
    if STYLEGAN[name] == "stylegan3":
        capsys.readouterr()
        assert main(["compress", "--teacher", str(run), "--method", "kd", "--fraction", "0.5",
                     "--out", str(tmp_path / "student")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "StyleGAN3 teachers are not supported" in err
        return
    G_T, D_T, cfg, _ = load_teacher(run)  # the imported StyleGAN2 run is a teacher like any other
    G_S, D_S = make_student(G_T, 0.5).eval(), make_student(D_T, 0.5).eval()
    assert G_S.arch_cfg.channel_base == G_T.arch_cfg.channel_base // 2 and G_S.w_dim == G_T.w_dim
    z = torch.randn(4, G_T.z_dim)
    c = torch.arange(4) % cfg.net.num_classes if cfg.net.num_classes else None
    with torch.no_grad():
        img = G_S(z, c)
        assert img.shape == (4, 3, 32, 32) and torch.isfinite(img).all() and D_S(img, c).shape == (4,)
