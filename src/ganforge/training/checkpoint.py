"""Checkpoints: safetensors weights + JSON state, written atomically, validated on load; never pickle."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

GENERATOR_FORMAT = "ganforge-generator-v1"
CKPT_PREFIX = "ckpt-"


class CheckpointError(ValueError):
    """A checkpoint that is missing, from another model, or unusable; the message names the fix."""


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check_finite(name: str, tensors: dict[str, torch.Tensor]) -> None:
    for key, t in tensors.items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise CheckpointError(f"refusing to write non-finite values: {name}:{key}")


def module_tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Adam-style state flattened to '<param index>.<name>' tensors, plus the JSON-able param groups."""
    sd = opt.state_dict()
    tensors = {}
    for idx, state in sd["state"].items():
        for k, v in state.items():
            tensors[f"{idx}.{k}"] = (v if torch.is_tensor(v) else torch.tensor(v)).detach().cpu().contiguous()
    return tensors, {"param_groups": sd["param_groups"]}


def load_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    state: dict[int, dict] = {}
    for key, v in tensors.items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = v
    groups = meta["param_groups"]
    for g in groups:
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
    opt.load_state_dict({"state": state, "param_groups": groups})


def write_checkpoint(run_dir: Path, tag: str, modules: dict[str, nn.Module],
                     optimizers: dict[str, torch.optim.Optimizer], state: dict,
                     extra_tensors: dict[str, torch.Tensor] | None = None) -> Path:
    """Write <run_dir>/<tag>/ atomically: everything goes to a temporary folder that is renamed when complete."""
    final = run_dir / tag
    tmp = run_dir / f".{tag}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    blobs: dict[str, dict[str, torch.Tensor]] = {name: module_tensors(m) for name, m in modules.items()}
    opt_meta = {}
    for name, opt in optimizers.items():
        blobs[f"optim_{name}"], opt_meta[name] = optimizer_tensors(opt)
    if extra_tensors:
        blobs["extra"] = {k: v.detach().cpu().contiguous() for k, v in extra_tensors.items()}
    for name, tensors in blobs.items():
        _check_finite(name, tensors)
    for name, tensors in blobs.items():
        save_file(tensors, str(tmp / f"{name}.safetensors"))
    with open(tmp / "state.json", "w") as f:
        json.dump({**state, "optimizers": opt_meta}, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    for p in tmp.iterdir():
        with open(p, "rb") as f:
            os.fsync(f.fileno())
    if final.exists():
        old = run_dir / f".{tag}.old"
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(final)
    _fsync_dir(run_dir)
    return final


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints (those with state.json), oldest first."""
    found = [p for p in Path(run_dir).glob(f"{CKPT_PREFIX}*") if (p / "state.json").exists()]
    return sorted(found, key=lambda p: p.name)


def prune_checkpoints(run_dir: Path, keep: int) -> None:
    for p in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(p, ignore_errors=True)


def read_state(ckpt: Path) -> dict:
    with open(ckpt / "state.json") as f:
        return json.load(f)


def read_tensors(ckpt: Path, name: str) -> dict[str, torch.Tensor]:
    path = ckpt / f"{name}.safetensors"
    if not path.exists():
        raise CheckpointError(f"{ckpt}: missing {path.name}; the checkpoint is incomplete")
    try:
        return load_file(str(path))
    except Exception as e:  # safetensors raises its own error type for corrupt or foreign files
        raise CheckpointError(f"{path}: not a readable safetensors file ({e}); the checkpoint is corrupt") from e


def load_module(module: nn.Module, tensors: dict[str, torch.Tensor], what: str) -> None:
    """Strict load that names every tensor that is missing, unexpected or of another shape."""
    own = module.state_dict()
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    shapes = [f"{k}: checkpoint {tuple(tensors[k].shape)} {tensors[k].dtype} vs model {tuple(own[k].shape)} "
              f"{own[k].dtype}" for k in sorted(set(own) & set(tensors))
              if tensors[k].shape != own[k].shape or tensors[k].dtype != own[k].dtype]
    if missing or unexpected or shapes:
        lines = ([f"missing: {', '.join(missing[:8])}"] if missing else []) + (
            [f"unexpected: {', '.join(unexpected[:8])}"] if unexpected else []) + shapes[:8]
        raise CheckpointError(f"{what} was saved from a different architecture:\n  " + "\n  ".join(lines) +
                              "\nUse the same preset / net.* settings as the run that wrote it (see its config.json).")
    for k, v in tensors.items():
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise CheckpointError(f"{what}: tensor {k} holds non-finite values")
    module.load_state_dict(tensors)


def save_generator(path: Path, G: nn.Module, net_config: dict, extra_meta: dict | None = None) -> None:
    """A standalone generator file: weights plus the network config in the safetensors metadata."""
    tensors = module_tensors(G)
    _check_finite("generator", tensors)
    meta = {"format": GENERATOR_FORMAT, "net": json.dumps(net_config), **(extra_meta or {})}
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata={k: str(v) for k, v in meta.items()})
    os.replace(tmp, path)
