"""Careless and hostile input to `analyze`, `export`, `report`, `distill` and `dirac`: one line, exit 2, no traceback,
nothing written."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from helpers import tiny_net

from ganforge.cli.main import main
from ganforge.networks import Generator
from ganforge.training.checkpoint import save_generator


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny generator file, a garbage .safetensors, a plain file and a folder."""
    root = tmp_path_factory.mktemp("bad_input")
    G = Generator(tiny_net())
    save_generator(root / "g.safetensors", G, dataclasses.asdict(G.cfg))
    (root / "garbage.safetensors").write_bytes(b"\x00garbage" * 8)
    (root / "plain").write_text("x")
    (root / "folder").mkdir()
    return root


def usage_error(argv: list[str], capsys) -> str:
    """Run argv; it must be refused by argparse (exit 2) with an error line naming the flag."""
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2, argv
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("ganforge ") and ": error: " in err[-1] and "Traceback" not in "".join(err), err
    return err[-1]


def one_line_error(argv: list[str], capsys) -> str:
    """Run argv; it must return 2 with exactly one line `ganforge <command>: error: ...`."""
    assert main(argv) == 2, argv
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"ganforge {argv[0]}: error:") and len(err.splitlines()) == 1, err
    return err


def test_numbers_out_of_range_are_refused_at_parse_time(files, capsys):
    g, run = str(files / "g.safetensors"), str(files / "folder")
    cases = {
        ("analyze", "trajectory", run, "--num", "0"): "integer >= 1",
        ("analyze", "trajectory", run, "--start", "1"): "[0, 1)",
        ("analyze", "trajectory", run, "--start", "nan"): "finite",
        ("analyze", "trajectory", run, "--seed", "-1"): "integer >= 0",
        ("analyze", "interplay", run, "--batch-size", "0"): "integer >= 1",
        ("analyze", "interplay", run, "--per-quadrant", "-2"): "integer >= 1",
        ("export", g, "--opset", "0", "--onnx", "x.onnx"): "from 7 to 20",
        ("export", g, "--opset", "1e9", "--onnx", "x.onnx"): "expected an integer",
        ("report", g, "--batch-sizes", "0"): "integer >= 1",
        ("report", g, "--batch-sizes", "a,b"): "expected an integer",
        ("report", g, "--batch-sizes", ","): "comma list",
        ("report", g, "--repeats", "0"): "integer >= 1",
        ("report", g, "--warmup", "-1"): "integer >= 0",
        ("report", g, "--threads", "0"): "from 1 to",
        ("report", g, "--rounds", "0"): "integer >= 1",
        ("distill", "teacher-stats", g, "--out", "s.safetensors", "--num", "-5"): "integer >= 1",
        ("distill", "teacher-stats", g, "--out", "s.safetensors", "--embed", " , "): "comma list",
        ("distill", "teacher-stats", g, "--out", "s.safetensors", "--embed-size", "0"): "integer >= 1",
        ("dirac", "--t-end", "0"): "> 0",
        ("dirac", "--t-end", "-5"): "> 0",
        ("dirac", "--t-end", "nan"): "finite",
        ("dirac", "--lr-g", "inf"): "finite",
        ("dirac", "--lr-d", "0"): "> 0",
        ("dirac", "--ema-rate", "2"): "(0, 1]",
        ("dirac", "--alpha", "-1"): ">= 0",
        ("dirac", "--gamma", "1e300"): "at most 1000",
    }
    for argv, expected in cases.items():
        assert expected in usage_error(list(argv), capsys), argv


def test_bad_paths_are_refused_at_parse_time(files, capsys):
    g, plain, folder = str(files / "g.safetensors"), str(files / "plain"), str(files / "folder")
    cases = {
        ("analyze", "trajectory", str(files / "missing")): "does not exist",
        ("analyze", "trajectory", folder, "--json", folder): "is a folder",
        ("analyze", "trajectory", folder, "--strip", "strip.xyz"): "unknown file type",
        ("analyze", "interplay", folder, "--out", f"{plain}/grid.png"): "is a file, not a folder",
        ("analyze", "interplay", folder, "--weights", str(files / "missing.pth")): "does not exist",
        ("analyze", "interplay", folder, "--device", "banana"): "unknown device",
        ("export", str(files / "missing")): "does not exist",
        ("export", g, "--onnx", folder): "is a folder",
        ("export", g, "--onnx", "model.txt"): ".onnx",
        ("export", g, "--generator", "g.bin"): ".safetensors",
        ("export", g, "--torchscript", f"{plain}/g.pt"): "is a file, not a folder",
        ("report", g, str(files / "missing")): "does not exist",
        ("report", g, "--json", "out.txt"): ".json",
        ("distill", "teacher-stats", g, "--out", folder): "is a folder",
        ("distill", "teacher-stats", g, "--out", "stats.npz"): ".safetensors",
        ("distill", "teacher-stats", g, "--out", "s.safetensors", "--clip-weights", str(files / "no")): "not exist",
        ("dirac", "--out", "figure.xyz"): "unknown file type",
        ("dirac", "--out", folder): "is a folder",
    }
    if not torch.cuda.is_available():
        cases[("analyze", "interplay", folder, "--device", "cuda")] = "CUDA is not available"
    for argv, expected in cases.items():
        assert expected in usage_error(list(argv), capsys), argv


def test_export_errors_are_one_line_and_write_nothing(files, tmp_path, capsys, monkeypatch):
    g = str(files / "g.safetensors")
    assert "nothing to export" in one_line_error(["export", g], capsys)
    assert "garbage.safetensors" in one_line_error(["export", str(files / "garbage.safetensors"), "--generator",
                                                    str(tmp_path / "a.safetensors")], capsys)
    assert "no checkpoint found" in one_line_error(["export", str(files / "folder"), "--generator",
                                                    str(tmp_path / "a.safetensors")], capsys)
    same = str(tmp_path / "x" / "g.onnx")
    assert "same file" in one_line_error(["export", g, "--onnx", same, "--torchscript", same], capsys)

    def partial_then_fail(G, path, opset=17):  # what a failing exporter does: half a file, then an error
        path.write_bytes(b"partial")
        raise RuntimeError("unsupported operator\nmore detail")

    monkeypatch.setattr("ganforge.cli.export.export_onnx", partial_then_fail)
    err = one_line_error(["export", g, "--onnx", str(tmp_path / "out" / "g.onnx")], capsys)
    assert "unsupported operator" in err and "--opset" in err
    assert list((tmp_path / "out").iterdir()) == []  # neither the partial file nor its temporary copy


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
def test_export_success_leaves_no_temporary_files(files, tmp_path, capsys):
    out = tmp_path / "exported"
    assert main(["export", str(files / "g.safetensors"), "--torchscript", str(out / "g.pt"), "--generator",
                 str(out / "g.safetensors")]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["g.pt", "g.safetensors"]
    assert torch.jit.load(str(out / "g.pt"))(torch.randn(2, 8)).shape == (2, 1, 32, 32)


def test_report_and_distill_errors(files, tmp_path, capsys, monkeypatch):
    g = str(files / "g.safetensors")
    assert "not a safetensors file" in one_line_error(["report", str(files / "garbage.safetensors")], capsys)
    monkeypatch.setenv("GANFORGE_MAX_SAMPLE_BYTES", str(2**20))
    err = one_line_error(["report", g, "--batch-sizes", "1,4096"], capsys)  # 4096 x 32 x 32 x 4 bytes > 1 MiB
    assert "--batch-sizes 4096" in err and "GANFORGE_MAX_SAMPLE_BYTES" in err
    monkeypatch.delenv("GANFORGE_MAX_SAMPLE_BYTES")

    stats = str(tmp_path / "s.safetensors")
    assert "unknown embedder(s) nope" in one_line_error(["distill", "teacher-stats", g, "--embed", "nope", "--out",
                                                          stats, "--device", "cpu"], capsys)
    big = ["distill", "teacher-stats", g, "--embed", "vgg16", "--num", str(10**12), "--out", stats, "--device", "cpu"]
    assert "GANFORGE_MAX_SAMPLE_BYTES" in one_line_error(big, capsys)
    # an existing --out that is not a statistics file is named, never overwritten
    for existing in (files / "garbage.safetensors", files / "g.safetensors"):
        before = existing.read_bytes()
        err = one_line_error(["distill", "teacher-stats", g, "--embed", "vgg16", "--out", str(existing)], capsys)
        assert str(existing) in err and "delete it or choose another path" in err
        assert existing.read_bytes() == before


def test_analyze_errors_before_any_work(files, capsys):
    folder = str(files / "folder")
    assert "at least 2" in one_line_error(["analyze", "trajectory", folder, "--num", "1"], capsys)
    err = one_line_error(["analyze", "interplay", folder, "--num", "10", "--per-quadrant", "4"], capsys)
    assert "per-quadrant <= band <= num / 2" in err
    assert "no ckpt-*" in one_line_error(["analyze", "trajectory", folder], capsys)


def test_dirac_simulation_size_is_bounded(tmp_path, capsys):
    out = tmp_path / "f.png"
    assert "GANFORGE_MAX_SIM_STEPS" in one_line_error(["dirac", "--out", str(out), "--t-end", "1e9"], capsys)
    assert "too stiff" in one_line_error(["dirac", "--out", str(out), "--lr-g", "900", "--t-end", "1000"], capsys)
    err = one_line_error(["dirac", "--out", str(out), "--mode", "discrete", "--t-end", "0.2"], capsys)
    assert "at least 1 step" in err
    assert not out.exists()
