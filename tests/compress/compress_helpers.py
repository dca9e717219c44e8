"""Tiny teachers, students and DistillSetups for the compression tests."""

from __future__ import annotations

import torch
from torch import nn

from ganforge.compress.common import DistillSetup
from ganforge.compress.config import CompressConfig
from ganforge.compress.student import make_student
from ganforge.losses import get_loss
from ganforge.networks import Discriminator, Generator, NetworkConfig


def teacher_net(num_classes: int = 0) -> NetworkConfig:
    return NetworkConfig(widths=[16] * 4, blocks=[1] * 4, cardinalities=[2] * 4, z_dim=8, img_channels=1,
                         num_classes=num_classes, g_embed_dim=4)


def randomize(module: nn.Module, seed: int = 0, scale: float = 0.3) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * scale)
    return module


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(module: nn.Module, before: dict[str, torch.Tensor]) -> bool:
    return any(not torch.equal(v, before[k]) for k, v in module.state_dict().items())


def make_setup(tmp_path, method: str = "sdakd", fraction: float = 0.5, num_classes: int = 0,
               **overrides) -> DistillSetup:
    cfg = CompressConfig(method=method, fraction=fraction, out=str(tmp_path), kimg=0.016, batch_size=4)
    cfg.sup.lpips = 0.0
    for key, value in overrides.items():
        obj = cfg
        *parents, leaf = key.split("__")
        for p in parents:
            obj = getattr(obj, p)
        setattr(obj, leaf, value)
    net = teacher_net(num_classes)
    G_T = randomize(Generator(net), 1).eval().requires_grad_(False)
    D_T = randomize(Discriminator(net), 2, 0.1).eval().requires_grad_(False)
    G_S = make_student(G_T, fraction).requires_grad_(True)
    D_S = make_student(D_T, fraction).requires_grad_(True)
    loss_d, loss_g = get_loss("rpgan")
    return DistillSetup(cfg, G_T, D_T, G_S, D_S, "rpgan", loss_d, loss_g, 0.1, True, True, torch.device("cpu"),
                        tmp_path)


def batch(setup: DistillSetup, n: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    real = torch.rand(n, 1, 32, 32, generator=g) * 2 - 1
    nc = setup.G_T.num_classes
    c = torch.arange(n) % nc if nc else None
    return real, c, torch.randn(n, setup.G_T.z_dim, generator=g)
