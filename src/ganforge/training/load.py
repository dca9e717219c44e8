"""load_generator / load_discriminator: networks of a run, checkpoint or exported file, ready to use.

The one loading path of every architecture: the stored NetworkConfig (its `arch`) picks the builder
(ganforge.networks.registry), and an official snapshot .pkl is imported into a run first."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import safe_open
from torch import nn

from ganforge.errors import UserError
from ganforge.limits import hint, limit
from ganforge.networks import NetworkConfig, build_discriminator, build_generator
from ganforge.training import checkpoint as ckpt
from ganforge.training.ema import EXTRA_PREFIX, extra_ema_labels
from ganforge.training.overrides import ConfigError, update_from_dict


def _net_config(data: dict, where: str) -> NetworkConfig:
    """The network settings stored with weights; garbage is a CheckpointError naming the file."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as e:
            raise ckpt.CheckpointError(f"{where}: its network metadata is not JSON ({e}); re-export the file") from e
    if not isinstance(data, dict):
        raise ckpt.CheckpointError(f"{where}: no network settings stored with the weights; re-export the file")
    try:
        return update_from_dict(NetworkConfig(), data)
    except ConfigError as e:
        raise ckpt.CheckpointError(f"{where}: stored network settings are invalid ({e})") from None


def _build(build: Callable[[NetworkConfig], nn.Module], cfg: NetworkConfig, shapes: dict[str, tuple[int, ...]],
           where: str) -> nn.Module:
    """Build the network of cfg.arch only after its size and every tensor shape were checked on the meta device,
    so metadata claiming huge widths fails before anything is allocated."""
    with torch.device("meta"):
        probe = build(cfg)
    params = sum(p.numel() for p in probe.parameters())
    if params > limit("MAX_PARAMS"):
        raise ckpt.CheckpointError(f"{where}: its settings describe a {params / 1e9:.1f}G-parameter network; the "
                                   f"file is damaged or not meant for this machine ({hint('MAX_PARAMS')})")
    own = {k: tuple(v.shape) for k, v in probe.state_dict().items()}
    if own != shapes:
        bad = sorted(set(own) ^ set(shapes)) + sorted(k for k in set(own) & set(shapes) if own[k] != shapes[k])
        raise ckpt.CheckpointError(f"{where}: the weights do not match the stored network settings (e.g. "
                                   f"{', '.join(bad[:4])}); the file is damaged, re-export it")
    return build(cfg)


def _from_file(path: Path) -> nn.Module:
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
        shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118 (not iterable)
        G = _build(build_generator, _net_config(meta["net"], str(path)), shapes, str(path))
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    ckpt.load_module(G, tensors, str(path))
    return G


def _stored_net(c: Path) -> NetworkConfig:
    config = ckpt.read_state(c).get("config")
    if isinstance(config, dict) and config.get("task") == "sr":  # an image-to-image run: no z -> image generator
        raise UserError(f"{c}: a super-resolution run (task=sr); upscale with it instead: "
                        f"`ganforge upscale IMAGE OUT --weights {c.parent / 'generator.safetensors'}` (compress it "
                        f"with `ganforge compress --teacher {c.parent} --method sdakd|kd`)")
    return _net_config(config.get("net") if isinstance(config, dict) else None, f"{c}/state.json")


def imported_snapshot_run(path: str | Path) -> Path:
    """An official snapshot `*.pkl` imported once (`ganforge import`) into $GANFORGE_CACHE/imports (default
    ~/.cache/ganforge/imports), keyed by the file's sha256, so commands taking a run also take the .pkl; other paths
    come back unchanged."""
    p = Path(path)
    if p.suffix.lower() != ".pkl" or not p.is_file():
        return p
    from ganforge.interop.convert import import_snapshot, sha256_file

    root = Path(os.environ.get("GANFORGE_CACHE") or Path.home() / ".cache" / "ganforge") / "imports"
    run = root / f"{p.stem}-{sha256_file(p)[:16]}"
    if not (run.is_dir() and ckpt.list_checkpoints(run)):
        try:
            import_snapshot(p, run, overwrite=run.exists())
        except UserError:
            if not (run.is_dir() and ckpt.list_checkpoints(run)):  # not a concurrent import that finished first
                raise
    return run


def resolve_checkpoint(path: str | Path) -> Path:
    """A run directory resolves to its latest complete checkpoint; a checkpoint directory to itself; an official
    snapshot .pkl to the run it is imported into (imported_snapshot_run)."""
    p = imported_snapshot_run(path)
    if (p / "state.json").exists():
        return p
    found = ckpt.list_checkpoints(p) if p.is_dir() else []
    if not found:
        raise ckpt.CheckpointError(f"{p}: no checkpoint found (expected a run directory with ckpt-*/, a checkpoint "
                                   "directory with state.json, or a generator .safetensors file)")
    return found[-1]


def _generator_tensors(c: Path, ema: bool | str) -> str:
    """The checkpoint file of the generator asked for: G_ema (True), G (False) or an extra EMA by its name ('h50')."""
    if not isinstance(ema, str):
        return "G_ema" if ema else "G"
    label = ema.removeprefix(EXTRA_PREFIX)
    have = extra_ema_labels(c)
    if label not in have:
        extra = (f"and the extra EMAs {', '.join(have)}" if have else
                 "and no extra EMAs (train with schedule.ema_extra_kimg=[...] to keep some)")
        raise UserError(f"{c}: no EMA '{ema}'; this checkpoint has G_ema (ema=True), G (ema=False) {extra}")
    return EXTRA_PREFIX + label


def load_generator(path: str | Path, device: str | torch.device = "cpu", ema: bool | str = True) -> nn.Module:
    """The EMA generator (or the live one with ema=False, or an extra EMA by name, e.g. ema="h50") in eval mode,
    from a run dir, checkpoint dir or file (a generator .safetensors, or an official snapshot .pkl, imported on the
    fly)."""
    p = imported_snapshot_run(path)
    if p.is_file():
        if isinstance(ema, str):
            raise UserError(f"{p} holds one generator; ema='{ema}' needs the run or checkpoint directory it came from")
        G = _from_file(p)
    else:
        c = resolve_checkpoint(p)
        name = _generator_tensors(c, ema)
        tensors = ckpt.read_tensors(c, name)
        G = _build(build_generator, _stored_net(c), {k: tuple(v.shape) for k, v in tensors.items()}, f"{c}/{name}")
        ckpt.load_module(G, tensors, f"{c}/{name}")
    return G.to(device).eval().requires_grad_(False)


def load_discriminator(path: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """D of a checkpoint (or a run directory's latest), eval mode, frozen."""
    c = resolve_checkpoint(path)
    tensors = ckpt.read_tensors(c, "D")
    D = _build(build_discriminator, _stored_net(c), {k: tuple(v.shape) for k, v in tensors.items()}, f"{c}/D")
    ckpt.load_module(D, tensors, f"{c}/D")
    return D.to(device).eval().requires_grad_(False)


@torch.no_grad()
def generate(G: nn.Module, seeds: list[int], labels: int | list[int] | None = None, batch_size: int = 64,
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
