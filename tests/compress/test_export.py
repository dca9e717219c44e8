import pytest
import torch
from compress_helpers import randomize, teacher_net

from ganforge.cli.main import main
from ganforge.compress.export import example_inputs, export_onnx, export_torchscript, run_onnx
from ganforge.compress.student import make_student
from ganforge.networks import Generator
from ganforge.training.checkpoint import save_generator
from ganforge.training.load import load_generator

pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("num_classes", [0, 3])
def test_onnx_student_matches_pytorch_in_onnxruntime(tmp_path, num_classes):
    teacher = randomize(Generator(teacher_net(num_classes)))
    student = make_student(teacher, 0.25)  # teacher-initialised: non-zero weights everywhere
    path = export_onnx(student, tmp_path / "g.onnx")
    for batch in (1, 5):  # the batch dimension is dynamic
        inputs = example_inputs(student, batch, seed=batch)
        with torch.no_grad():
            ref = student(*inputs)
        out = run_onnx(path, *inputs)
        assert out.shape == ref.shape == (batch, 1, 32, 32)
        assert torch.allclose(out, ref, atol=1e-4), (out - ref).abs().max()
    assert ref.abs().max() > 0.1  # a meaningful comparison, not two zero images


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
def test_torchscript_matches_pytorch(tmp_path):
    student = make_student(randomize(Generator(teacher_net())), 0.5)
    path = export_torchscript(student, tmp_path / "g.pt")
    module = torch.jit.load(str(path))
    z = torch.randn(3, student.z_dim)
    with torch.no_grad():
        assert torch.allclose(module(z), student(z), atol=1e-5)


def test_export_cli_for_a_student_file(tmp_path, capsys):
    import dataclasses

    student = make_student(randomize(Generator(teacher_net())), 0.5)
    src = tmp_path / "student.safetensors"
    save_generator(src, student, dataclasses.asdict(student.cfg))
    out = tmp_path / "out"
    assert main(["export", str(src), "--onnx", str(out / "g.onnx"), "--generator", str(out / "g.safetensors")]) == 0
    text = capsys.readouterr().out
    assert "max |difference|" in text
    reloaded = load_generator(out / "g.safetensors")
    z = torch.randn(2, student.z_dim)
    with torch.no_grad():
        assert torch.equal(reloaded(z), student.eval()(z))
        assert torch.allclose(run_onnx(out / "g.onnx", z), student(z), atol=1e-4)
