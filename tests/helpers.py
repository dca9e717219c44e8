"""Tiny network configs and datasets that keep the suite fast on 2 CPU cores."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import torch

from ganforge.data import ImageDataset
from ganforge.networks import NetworkConfig
from ganforge.training import TrainConfig, get_preset


def tiny_net(channels: int = 1, num_classes: int = 0, stages: int = 4) -> NetworkConfig:
    """16 channels per stage, one block each: a few thousand parameters, milliseconds per step."""
    return NetworkConfig(widths=[16] * stages, blocks=[1] * stages, cardinalities=[2] * stages, z_dim=8,
                         img_channels=channels, num_classes=num_classes, g_embed_dim=8)


def tiny_dataset(n: int = 64, channels: int = 1, num_classes: int = 0, seed: int = 0) -> ImageDataset:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, channels, 32, 32), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, num_classes, (n,), generator=g) if num_classes else None
    return ImageDataset(images, labels, num_classes, f"tiny-{n}-{channels}-{num_classes}-{seed}")


def tiny_train_config(out: str, **kw) -> TrainConfig:
    cfg = get_preset("tiny")
    cfg.net = tiny_net()
    cfg.out, cfg.batch_size, cfg.kimg = out, 8, 0.032
    cfg.log_every_kimg, cfg.snapshot_every_kimg, cfg.grid_size = 0.008, 1000.0, 4
    cfg.schedule.burnin_kimg = 0.1
    cfg.channels_last = False  # the tiny preset's NHWC only pays off at its real widths
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


def load_script(path: Path) -> ModuleType:
    """A benchmark script (not a package module) imported by path, registered in sys.modules under its stem so its
    dataclasses can look their module up."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
