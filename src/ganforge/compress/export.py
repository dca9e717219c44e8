"""Export any ganforge generator (teacher or student) to ONNX or TorchScript: inputs z [N, z_dim] (and labels
c int64 [N] for conditional generators), output images [N, C, H, W] in [-1, 1]. The batch dimension is dynamic."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import torch
from torch import nn


class SamplerModule(nn.Module):
    """G(z) or G(z, c) with a fixed signature, the graph that gets exported."""

    def __init__(self, G: nn.Module):
        super().__init__()
        self.G = G
        self.conditional = bool(getattr(G, "num_classes", 0))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.G(z, c if self.conditional else None)


def example_inputs(G: nn.Module, batch_size: int = 2, seed: int = 0) -> tuple[torch.Tensor, ...]:
    z = torch.randn(batch_size, G.z_dim, generator=torch.Generator().manual_seed(seed))
    if getattr(G, "num_classes", 0):
        return z, torch.arange(batch_size, dtype=torch.long) % G.num_classes
    return (z,)


def export_onnx(G: nn.Module, path: str | Path, opset: int = 17, batch_size: int = 2) -> Path:
    """Write an ONNX graph with the classic TorchScript-based exporter (dynamo=False: no onnxscript needed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = SamplerModule(copy.deepcopy(G).cpu().eval()).eval()
    inputs = example_inputs(G, batch_size)
    names = ["z", "c"][:len(inputs)]
    axes = {n: {0: "batch"} for n in [*names, "images"]}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, inputs, str(path), input_names=names, output_names=["images"],
                          dynamic_axes=axes, opset_version=opset, dynamo=False, do_constant_folding=True)
    return path


def export_torchscript(G: nn.Module, path: str | Path, batch_size: int = 2) -> Path:
    """Trace G into a TorchScript file loadable with torch.jit.load (no ganforge needed to run it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = SamplerModule(copy.deepcopy(G).cpu().eval()).eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module, example_inputs(G, batch_size), check_trace=False)
        traced.save(str(path))
    return path


def run_onnx(path: str | Path, *inputs: torch.Tensor) -> torch.Tensor:
    """Run an exported generator in onnxruntime (CPU) and return its images as a torch tensor."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {i.name: t.cpu().numpy() for i, t in zip(session.get_inputs(), inputs)}
    return torch.from_numpy(session.run(None, feeds)[0])


def max_abs_difference(G: nn.Module, path: str | Path, batch_size: int = 3, seed: int = 1) -> float:
    """max |onnxruntime(z) - G(z)| on fresh latents (another batch size than the export's)."""
    inputs = example_inputs(G, batch_size, seed)
    with torch.no_grad():
        ref = SamplerModule(copy.deepcopy(G).cpu().eval())(*inputs)
    return float((run_onnx(path, *inputs) - ref).abs().max())


__all__ = ["SamplerModule", "example_inputs", "export_onnx", "export_torchscript", "max_abs_difference",
           "run_onnx"]
