"""The Augmenter interface the training loop calls on every image D sees, and the no-op Augmenter."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn


class Augmenter(nn.Module):
    """nn.Module `aug(x, generator=None) -> x` on float NCHW images in [-1, 1]; `aug.p` is the probability.

    Randomness comes from `generator` when given (it must live on x.device) or else from torch's global RNG on
    x.device, so saving/restoring the RNG state reproduces the augmentation exactly.
    """

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self._p = 0.0
        self.p = p

    @property
    def p(self) -> float:
        """Current probability in [0, 1]; a Python float so p == 0 can skip work without a device sync."""
        return self._p

    @p.setter
    def p(self, value: float) -> None:
        value = float(value)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"augmentation probability must be in [0, 1], got {value}")
        self._p = value

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"p={self.p:.4f}"


class NoAugment(Augmenter):
    """kind="none": returns its input unchanged (the same tensor object), whatever p is set to."""

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return x


def uniform(shape: tuple[int, ...], *, like: Tensor, generator: torch.Generator | None) -> Tensor:
    """U[0, 1) of `shape` in like's dtype/device, from `generator` or the global RNG of like's device."""
    return _draw(torch.rand, shape, like, generator)


def normal(shape: tuple[int, ...], *, like: Tensor, generator: torch.Generator | None) -> Tensor:
    """N(0, 1) of `shape` in like's dtype/device, from `generator` or the global RNG of like's device."""
    return _draw(torch.randn, shape, like, generator)


def _draw(fn: Callable[..., Tensor], shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None) -> Tensor:
    device = like.device if generator is None else generator.device
    return fn(shape, generator=generator, dtype=like.dtype, device=device).to(like.device)


def param_dtype(x: Tensor) -> torch.dtype:
    """Dtype of random parameters and matrices: float64 stays float64 (gradcheck), lower uses float32."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32
