"""Zero-centred gradient penalties R1 (on reals) and R2 (on fakes), R3GAN Eq. 3-4, accumulated in at least FP32."""

from __future__ import annotations

import torch


def _at_least_fp32(t: torch.Tensor) -> torch.Tensor:
    return t.float() if t.dtype in (torch.bfloat16, torch.float16) else t


def gradient_penalty(logits: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """Per-sample ||grad_x D(x)||^2; the caller scales by gamma/2. create_graph so D's weights get its gradient."""
    (grad,) = torch.autograd.grad(_at_least_fp32(logits).sum(), inputs, create_graph=True)
    return _at_least_fp32(grad).square().flatten(1).sum(1)
