"""ONNX and TorchScript export of StyleGAN2 and StyleGAN3 (T and R) generators: one graph with a dynamic batch,
constant noise and the truncation given, equal to eager PyTorch in onnxruntime at batch sizes 1 and 3."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from helpers import tiny_net

from ganforge.cli.main import main
from ganforge.compress.export import example_inputs, export_onnx, export_torchscript, run_onnx
from ganforge.networks import NetworkConfig, build_generator
from ganforge.training.checkpoint import save_generator

pytest.importorskip("onnxruntime")

SG2 = {"img_resolution": 16, "w_dim": 16, "mapping_layers": 2, "channel_base": 128, "channel_max": 16,
       "conv_clamp": 256, "num_fp16_res": 2}
SG3 = {"img_resolution": 16, "w_dim": 16, "channel_base": 128, "channel_max": 16, "num_layers": 4, "margin_size": 2}
CASES = {"sg2": ("stylegan2", SG2, 0), "sg2-cond": ("stylegan2", SG2, 3), "sg3-t": ("stylegan3", SG3, 0),
         "sg3-r-cond": ("stylegan3", {**SG3, "config": "r"}, 2)}


def _generator(case: str, psi: float = 0.7) -> torch.nn.Module:
    arch, kwargs, classes = CASES[case]
    torch.manual_seed(0)
    G = build_generator(NetworkConfig(arch=arch, z_dim=8, num_classes=classes, arch_kwargs=kwargs)).eval()
    with torch.no_grad():
        for name, t in G.named_buffers():  # a w_avg away from 0, so the truncation changes the images
            if name.endswith("w_avg"):
                t.normal_()
        for m in G.modules():  # noise inputs that matter
            if hasattr(m, "noise_strength"):
                m.noise_strength.fill_(0.3)
    G.truncation_psi = psi
    return G.requires_grad_(False)


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
@pytest.mark.parametrize("case", sorted(CASES))
def test_exported_graphs_match_eager_pytorch_at_any_batch_size(case, tmp_path):
    G = _generator(case)
    onnx = export_onnx(G, tmp_path / "g.onnx")  # traced at batch 2
    script = torch.jit.load(str(export_torchscript(G, tmp_path / "g.pt")))
    for batch in (1, 3):
        inputs = example_inputs(G, batch, seed=batch)
        with torch.no_grad():
            ref = G(*inputs)
            untruncated = G(*inputs, truncation_psi=1.0)
            torch.testing.assert_close(script(*inputs), ref, atol=1e-5, rtol=0)
        out = run_onnx(onnx, *inputs)
        assert out.shape == ref.shape == (batch, 3, 16, 16)
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)
        assert (ref - untruncated).abs().max() > 1e-2 and ref.abs().max() > 0.1  # psi 0.7 is in the graph
    with torch.no_grad():
        noiseless = G(*inputs, noise_mode="none")
    if case.startswith("sg2"):  # the stored constant noise is in the graph too
        assert (ref - noiseless).abs().max() > 1e-3


def test_eager_stylegan2_keeps_the_fused_grouped_convolution():
    """Only a traced graph runs the modulated convolutions unfused: eager sampling stays the official fused path."""
    G = _generator("sg2")
    z = torch.randn(3, 8)
    calls: list[int] = []
    original = torch.nn.functional.conv2d

    def spy(x, w, *args, groups=1, **kwargs):
        calls.append(groups)
        return original(x, w, *args, groups=groups, **kwargs)

    with torch.no_grad(), pytest.MonkeyPatch.context() as mp:
        mp.setattr(torch.nn.functional, "conv2d", spy)
        G(z)
    assert 3 in calls  # groups = batch size: one grouped conv with per-sample weights


def test_export_cli_writes_a_stylegan_graph_and_refuses_truncating_r3gan(tmp_path, capsys):
    G = _generator("sg3-r-cond", psi=1.0)
    src = tmp_path / "g.safetensors"
    save_generator(src, G, dataclasses.asdict(G.cfg))
    out = tmp_path / "g.onnx"
    assert main(["export", str(src), "--onnx", str(out), "--truncation", "0.5"]) == 0
    assert "max |difference|" in capsys.readouterr().out
    inputs = example_inputs(G, 2, seed=5)
    with torch.no_grad():
        torch.testing.assert_close(run_onnx(out, *inputs), G(*inputs, truncation_psi=0.5), atol=1e-5, rtol=0)

    r3gan = tmp_path / "r3gan.safetensors"
    net = tiny_net(channels=3)
    save_generator(r3gan, build_generator(net), dataclasses.asdict(net))
    capsys.readouterr()
    assert main(["export", str(r3gan), "--onnx", str(tmp_path / "r.onnx"), "--truncation", "0.5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no truncation" in err and not (tmp_path / "r.onnx").exists()
