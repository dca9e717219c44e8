"""load_generator / load_discriminator: networks of a run, checkpoint or exported file, ready to use."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open

from ganforge.networks import Discriminator, Generator, NetworkConfig
from ganforge.training import checkpoint as ckpt
from ganforge.training.overrides import update_from_dict


def _net_config(data: dict) -> NetworkConfig:
    return update_from_dict(NetworkConfig(), data)


def _from_file(path: Path) -> Generator:
    try:
        handle = safe_open(str(path), framework="pt")
    except Exception as e:  # a pickle, a .pt, or a corrupt file: never deserialised by anything else
        raise ckpt.CheckpointError(f"{path}: not a safetensors file ({e}); ganforge reads generators only from "
                                   "safetensors (export one with `ganforge export` or pass a run directory)") from e
    with handle as f:
        meta = f.metadata() or {}
        if meta.get("format") != ckpt.GENERATOR_FORMAT or "net" not in meta:
            raise ckpt.CheckpointError(f"{path}: not a ganforge generator file (no '{ckpt.GENERATOR_FORMAT}' "
                                       "metadata); export one with `ganforge export` or pass a run directory")
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not iterable)
    G = Generator(_net_config(json.loads(meta["net"])))
    ckpt.load_module(G, tensors, str(path))
    return G


def resolve_checkpoint(path: str | Path) -> Path:
    """A run directory resolves to its latest complete checkpoint; a checkpoint directory to itself."""
    p = Path(path)
    if (p / "state.json").exists():
        return p
    found = ckpt.list_checkpoints(p) if p.is_dir() else []
    if not found:
        raise ckpt.CheckpointError(f"{p}: no checkpoint found (expected a run directory with ckpt-*/, a checkpoint "
                                   "directory with state.json, or a generator .safetensors file)")
    return found[-1]


def load_generator(path: str | Path, device: str | torch.device = "cpu", ema: bool = True) -> Generator:
    """The EMA generator (or the live one with ema=False) in eval mode, from a run dir, checkpoint dir or file."""
    p = Path(path)
    if p.is_file():
        G = _from_file(p)
    else:
        c = resolve_checkpoint(p)
        state = ckpt.read_state(c)
        G = Generator(_net_config(state["config"]["net"]))
        ckpt.load_module(G, ckpt.read_tensors(c, "G_ema" if ema else "G"), str(c))
    return G.to(device).eval().requires_grad_(False)


def load_discriminator(path: str | Path, device: str | torch.device = "cpu") -> Discriminator:
    """D of a checkpoint (or a run directory's latest), eval mode, frozen."""
    c = resolve_checkpoint(path)
    D = Discriminator(_net_config(ckpt.read_state(c)["config"]["net"]))
    ckpt.load_module(D, ckpt.read_tensors(c, "D"), f"{c}/D")
    return D.to(device).eval().requires_grad_(False)


@torch.no_grad()
def generate(G: Generator, seeds: list[int], labels: int | list[int] | None = None, batch_size: int = 64,
             device: str | torch.device = "cpu") -> torch.Tensor:
    """uint8 images for the given seeds: image i comes from z = randn(seed_i), independent of batching."""
    from ganforge.data import to_uint8

    if G.num_classes and labels is None:
        labels = [s % G.num_classes for s in seeds]
    if isinstance(labels, int):
        labels = [labels] * len(seeds)
    out = []
    for i in range(0, len(seeds), batch_size):
        chunk = seeds[i:i + batch_size]
        z = torch.stack([torch.randn(G.z_dim, generator=torch.Generator().manual_seed(s)) for s in chunk])
        c = None if labels is None else torch.tensor(labels[i:i + batch_size], dtype=torch.long, device=device)
        out.append(to_uint8(G(z.to(device), c)).cpu())
    return torch.cat(out)
