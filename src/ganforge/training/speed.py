"""Speed levers as config switches (channels_last, compile); benchmarks/train_step.py --config measures each one.

The trainer keeps its plain G and D for checkpoints, EMA and the R1/R2 step; compiled wrappers only share their
parameters, so state_dict keys never get torch.compile's `_orig_mod.` prefix.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def to_channels_last(*modules: nn.Module) -> None:
    """Store the 4-D weights of modules NHWC ("Channels Last Memory Format in PyTorch" tutorial); in place."""
    for m in modules:
        m.to(memory_format=torch.channels_last)


def as_input(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """A batch of images in the memory format the networks use (NCHW unless channels_last)."""
    return x.contiguous(memory_format=torch.channels_last) if channels_last and x.ndim == 4 else x


class SynthesisCompiled:
    """A StyleGAN generator whose synthesis network runs compiled while mapping runs eagerly, so the hooks on
    G.mapping (style mixing and path length, training.stylegan_recipe) act in plain Python: the same draws and
    mixed ws as without compile, no graph break on the drawn cutoff and no recompilation for each cutoff value."""

    def __init__(self, G: nn.Module, synthesis: Callable) -> None:
        self.G, self.synthesis = G, synthesis

    def __call__(self, *args, **kwargs) -> torch.Tensor:
        eager = self.G._modules["synthesis"]
        self.G._modules["synthesis"] = self.synthesis  # only for this call: state_dict keys never see the wrapper
        try:
            return self.G(*args, **kwargs)
        finally:
            self.G._modules["synthesis"] = eager


def compiled(module: nn.Module, enabled: bool) -> Callable:
    """torch.compile(module) (PyTorch 2, Ansel et al. 2024) when enabled, else the module itself; of a StyleGAN
    generator (with `mapping` and `synthesis`) only the synthesis network is compiled (SynthesisCompiled).

    Only for passes without a double backward: AOTAutograd, behind torch.compile, rejects autograd.grad with
    create_graph=True ("torch.compile with aot_autograd does not currently support double backward"), which the
    R1/R2 penalties need. dynamic=False: batch shapes are fixed during training, so no symbolic-shape overhead.
    layout_optimization off: with it, inductor (torch 2.14, CPU) feeds NHWC gradients to the replicate-pad backward
    of D's downsampling and then fails its own stride check on the result.
    """
    if not enabled:
        return module
    if isinstance(getattr(module, "mapping", None), nn.Module) and isinstance(getattr(module, "synthesis", None),
                                                                              nn.Module):
        return SynthesisCompiled(module, compiled(module.synthesis, True))
    return torch.compile(module, dynamic=False, options={"layout_optimization": False})
