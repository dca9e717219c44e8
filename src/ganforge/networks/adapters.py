"""StyleGAN2/StyleGAN3 networks with ganforge's call convention, so the trainer, generate, evaluate, export and the
compression methods use them as they use R3GAN's: G(z, c) -> image, D(x, c) -> logits [N], labels c as int64 [N].

They subclass the official-layout modules (`networks.stylegan2`, `networks.stylegan3`), so their state dicts keep the
official tensor names that `ganforge import` reads, and add the attributes ganforge reads (`cfg`, the NetworkConfig;
`num_classes`, `resolution`, `low_precision`). Sampling settings are attributes, overridable per call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.networks import stylegan2, stylegan3
from ganforge.networks.config import NetworkConfig

__all__ = ["StyleGAN2Generator", "StyleGAN3Generator", "StyleGANDiscriminator", "one_hot_labels"]


def one_hot_labels(c: torch.Tensor | None, c_dim: int, what: str) -> torch.Tensor | None:
    """ganforge labels (int64 [N]) -> the official one-hot [N, c_dim]; float [N, c_dim] passes as is (soft labels).
    Unconditional networks ignore c, as R3GAN's do."""
    if c_dim == 0:
        return None
    if c is None:
        raise ValueError(f"this {what} is class-conditional: pass labels c")
    if c.ndim == 1 and not c.is_floating_point():
        return F.one_hot(c.long(), c_dim).float()
    if c.ndim == 2 and c.shape[1] == c_dim:
        return c.float()
    raise ValueError(f"labels c must be int64 [N] or one-hot [N, {c_dim}], got {c.dtype} {tuple(c.shape)}")


def _collect(modules: list[nn.Module], run: Callable[[], torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """run() and the feature maps `modules` output on the way (first item of a tuple output: x of (x, img))."""
    feats: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: feats.append(out[0] if isinstance(out, tuple) else out))
             for m in modules]
    try:
        return run(), feats
    finally:
        for h in hooks:
            h.remove()


class _GeneratorConvention:
    """Mixin before a StyleGAN generator class: ganforge attributes and forward(z, c, return_features).

    truncation_psi / truncation_cutoff: the truncation trick (StyleGAN Sec. 2), 1 = off. noise_mode: None draws
    fresh noise while training and uses the stored constant noise in eval mode (reproducible samples, as the
    official generate.py); "random" / "const" / "none" force one. force_fp32: True runs every block float32 (the
    default, exact on every device); False lets the official fp16 blocks run float16 on CUDA.
    """

    def _adopt(self, net: NetworkConfig) -> None:
        self.arch_cfg = self.cfg  # type: ignore[has-type]
        self.cfg = net
        self.num_classes, self.resolution = net.num_classes, self.img_resolution  # type: ignore[attr-defined]
        self.low_precision: torch.dtype | None = None  # the trainer's bf16 switch; StyleGAN picks its own precision
        self.truncation_psi, self.truncation_cutoff = 1.0, None
        self.noise_mode: str | None = None
        self.force_fp32 = True

    def _feature_modules(self) -> list[nn.Module]:
        raise NotImplementedError

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, return_features: bool = False,
                **kwargs: Any) -> Any:
        """Image [N, C, H, W] roughly in [-1, 1] (with return_features also each block's feature map);
        kwargs override truncation_psi, truncation_cutoff, noise_mode or force_fp32 for this call."""
        settings = {"truncation_psi": self.truncation_psi, "truncation_cutoff": self.truncation_cutoff,
                    "noise_mode": self.noise_mode or ("random" if self.training else "const"),  # type: ignore
                    "force_fp32": self.force_fp32}
        unknown = set(kwargs) - set(settings)
        if unknown:
            raise TypeError(f"unexpected keyword argument(s) {', '.join(sorted(unknown))}")
        settings.update({k: v for k, v in kwargs.items() if v is not None})
        labels = one_hot_labels(c, self.num_classes, "generator")
        run = lambda: super(_GeneratorConvention, self).forward(z, labels, **settings)  # noqa: E731
        if not return_features:
            return run()
        return _collect(self._feature_modules(), run)


class StyleGAN2Generator(_GeneratorConvention, stylegan2.Generator):
    """StyleGAN2-ADA generator (net.arch=stylegan2); features: the output of each synthesis block."""

    def __init__(self, net: NetworkConfig, cfg: stylegan2.StyleGAN2Config) -> None:
        stylegan2.Generator.__init__(self, cfg)
        self._adopt(net)

    def _feature_modules(self) -> list[nn.Module]:
        return [getattr(self.synthesis, f"b{res}") for res in self.synthesis.block_resolutions]


class StyleGAN3Generator(_GeneratorConvention, stylegan3.Generator):
    """StyleGAN3 generator (net.arch=stylegan3); features: the output of each synthesis layer before ToRGB."""

    def __init__(self, net: NetworkConfig, cfg: stylegan3.StyleGAN3Config) -> None:
        stylegan3.Generator.__init__(self, cfg)
        self._adopt(net)

    def _feature_modules(self) -> list[nn.Module]:
        return [getattr(self.synthesis, name) for name in self.synthesis.layer_names[:-1]]


class StyleGANDiscriminator(stylegan2.Discriminator):
    """StyleGAN2-ADA discriminator (net.arch=stylegan2, and stylegan3 as in the official code): logits [N];
    features: the output of each block before the 4x4 epilogue. force_fp32 as for the generators."""

    def __init__(self, net: NetworkConfig, cfg: stylegan2.StyleGAN2Config) -> None:
        super().__init__(cfg)
        self.arch_cfg, self.cfg = cfg, net
        self.num_classes, self.resolution = net.num_classes, self.img_resolution
        self.low_precision: torch.dtype | None = None
        self.force_fp32 = True

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None, return_features: bool = False) -> Any:
        labels = one_hot_labels(c, self.num_classes, "discriminator")
        run = lambda: super(StyleGANDiscriminator, self).forward(x, labels, force_fp32=self.force_fp32)  # noqa: E731
        if not return_features:
            return run().view(x.shape[0])
        logits, feats = _collect([getattr(self, f"b{res}") for res in self.block_resolutions], run)
        return logits.view(x.shape[0]), feats
