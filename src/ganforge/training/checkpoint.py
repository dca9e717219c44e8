"""Checkpoints: safetensors weights + JSON state, written atomically, validated on load; never pickle."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ganforge.errors import UserError

GENERATOR_FORMAT = "ganforge-generator-v1"
CKPT_PREFIX = "ckpt-"


class CheckpointError(UserError):
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


def _rename(src: Path, dst: Path) -> None:
    """One atomic rename; a separate function so tests can inject a crash exactly between two of them."""
    os.replace(src, dst)


def write_checkpoint(run_dir: Path, tag: str, modules: dict[str, nn.Module],
                     optimizers: dict[str, torch.optim.Optimizer], state: dict,
                     extra_tensors: dict[str, torch.Tensor] | None = None) -> Path:
    """Write <run_dir>/<tag>/ atomically via a temporary folder; a crash at any point leaves a complete copy
    (the old one, or `.<tag>.tmp` / `.<tag>.old`, which `list_checkpoints` and `recover_checkpoints` find)."""
    final, tmp, old = run_dir / tag, run_dir / f".{tag}.tmp", run_dir / f".{tag}.old"
    blobs: dict[str, dict[str, torch.Tensor]] = {name: module_tensors(m) for name, m in modules.items()}
    opt_meta = {}
    for name, opt in optimizers.items():
        blobs[f"optim_{name}"], opt_meta[name] = optimizer_tensors(opt)
    if extra_tensors:
        blobs["extra"] = {k: v.detach().cpu().contiguous() for k, v in extra_tensors.items()}
    for name, tensors in blobs.items():
        _check_finite(name, tensors)
    try:
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        files = {}
        for name, tensors in blobs.items():
            save_file(tensors, str(tmp / f"{name}.safetensors"))
            with open(tmp / f"{name}.safetensors", "rb") as f:
                os.fsync(f.fileno())
            files[f"{name}.safetensors"] = (tmp / f"{name}.safetensors").stat().st_size
        with open(tmp / "state.json", "w") as f:  # last: a state.json listing every file marks a complete copy
            json.dump({**state, "optimizers": opt_meta, "files": files}, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise CheckpointError(f"cannot write checkpoint {final} ({e.strerror or e}); free disk space or fix the "
                              "permissions of the run directory (earlier checkpoints are intact)") from e
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        _rename(final, old)
        _rename(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        _rename(tmp, final)
    _fsync_dir(run_dir)
    return final


def incomplete_reason(path: Path) -> str | None:
    """None for a complete checkpoint folder, else what is wrong with it (a missing or truncated file)."""
    try:
        state = json.loads((path / "state.json").read_text())
    except FileNotFoundError:
        return "no state.json"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        return f"unreadable state.json ({e.__class__.__name__})"
    if not isinstance(state, dict):
        return "state.json is not an object"
    for name, size in (state.get("files") or {}).items():  # checkpoints before the file list: state.json only
        f = path / name
        if not f.is_file() or f.stat().st_size != size:
            return f"{name} missing or truncated"
    return None


def _copies(run_dir: Path, prefix: str) -> dict[str, list[Path]]:
    """Every folder holding a copy of a checkpoint tag, in order of preference: final, new (.tmp), old (.old)."""
    tags: dict[str, list[Path]] = {}
    for p in Path(run_dir).glob(f"*{prefix}*"):
        name = p.name
        if name.startswith(".") and name.endswith((".tmp", ".old")):
            tag = name[1:-4]
        elif not name.startswith("."):
            tag = name
        else:
            continue
        if tag.startswith(prefix) and p.is_dir():
            tags.setdefault(tag, []).append(p)
    rank = {"": 0, ".tmp": 1, ".old": 2}
    return {tag: sorted(ps, key=lambda p: rank[p.suffix if p.name.startswith(".") else ""])
            for tag, ps in tags.items()}


def list_checkpoints(run_dir: Path) -> list[Path]:
    """The newest complete copy of every ckpt-* tag (the folder itself, or a complete .tmp/.old left by a crash
    between two renames), oldest tag first."""
    found = []
    for _, paths in sorted(_copies(run_dir, CKPT_PREFIX).items()):
        complete = [p for p in paths if incomplete_reason(p) is None]
        if complete:
            found.append(complete[0])
    return found


def incomplete_checkpoints(run_dir: Path) -> dict[str, str]:
    """ckpt-* tags without any complete copy, with the reason, e.g. a write that was killed half-way."""
    out = {}
    for tag, paths in sorted(_copies(run_dir, CKPT_PREFIX).items()):
        reasons = [incomplete_reason(p) for p in paths]
        if all(reasons):
            out[tag] = str(reasons[0])
    return out


def newest_complete(run_dir: Path) -> tuple[Path, str]:
    """The newest complete checkpoint and a note naming newer incomplete ones that were skipped ('' if none)."""
    found = list_checkpoints(run_dir)
    if not found:
        raise CheckpointError(f"--resume {run_dir}: no complete checkpoint (ckpt-*/state.json) there; start a new "
                              "run without --resume, or point at the right run directory")
    tag = found[-1].name.strip(".").removesuffix(".tmp").removesuffix(".old")
    skipped = {t: r for t, r in incomplete_checkpoints(run_dir).items() if t > tag}
    note = (f"skipping incomplete checkpoint(s) {', '.join(f'{t} ({r})' for t, r in skipped.items())}; resuming "
            f"from {found[-1].name}") if skipped else ""
    return found[-1], note


def recover_checkpoints(run_dir: Path) -> list[str]:
    """Move complete .tmp/.old copies back into place and drop redundant ones; returns what was done.
    Only the run's owner (the process holding its lock) may call this."""
    notes = []
    for tag, paths in sorted({**_copies(run_dir, CKPT_PREFIX), **_copies(run_dir, "best")}.items()):
        final = Path(run_dir) / tag
        complete = [p for p in paths if incomplete_reason(p) is None]
        if complete and complete[0] != final:
            if final.exists():
                shutil.rmtree(final)
            _rename(complete[0], final)
            notes.append(f"recovered checkpoint {tag} from {complete[0].name} (a write was interrupted)")
        if complete:
            for p in paths:
                if p != complete[0] and p.exists():
                    shutil.rmtree(p, ignore_errors=True)
    return notes


def prune_checkpoints(run_dir: Path, keep: int, run_id: str | None = None) -> None:
    """Delete all but the newest `keep` checkpoints written by run `run_id`; another run's are never touched."""
    own = [p for p in list_checkpoints(run_dir) if run_id is None or _run_id(p) == run_id]
    for p in own[:-keep] if keep > 0 else []:
        shutil.rmtree(p, ignore_errors=True)


def _run_id(path: Path) -> str | None:
    try:
        return json.loads((path / "state.json").read_text()).get("run_id")
    except (OSError, ValueError, AttributeError):
        return None


def rng_tensors(device: torch.device) -> dict[str, torch.Tensor]:
    """The random state a resumed run continues from (the CPU generator, and the device's on CUDA)."""
    out = {"torch_cpu": torch.get_rng_state()}
    if device.type == "cuda":
        out["torch_cuda"] = torch.cuda.get_rng_state(device)
    return out


def set_rng(extra: dict[str, torch.Tensor], device: torch.device) -> None:
    """Put back what rng_tensors saved (a checkpoint's "extra" tensors)."""
    torch.set_rng_state(extra["torch_cpu"])
    if "torch_cuda" in extra and device.type == "cuda":
        torch.cuda.set_rng_state(extra["torch_cuda"], device)


def read_state(ckpt: Path) -> dict:
    """state.json of a checkpoint; unreadable or garbage JSON is a CheckpointError naming the file."""
    path = ckpt / "state.json"
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError as e:
        raise CheckpointError(f"{path}: missing; {ckpt} is not a complete checkpoint") from e
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: not readable JSON ({e}); the checkpoint is corrupt, use an earlier one") from e
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: not a JSON object; the checkpoint is corrupt, use an earlier one")
    return state


def is_import(state: dict) -> bool:
    """A checkpoint `ganforge import` wrote from an official snapshot: G, G_ema and D, no optimiser or trainer state."""
    return "import" in state and not state.get("optimizers")


def import_state(run_dir: Path) -> dict | None:
    """state.json of the run's newest checkpoint if it is an import (is_import), else None."""
    found = list_checkpoints(Path(run_dir)) if Path(run_dir).is_dir() else []
    try:
        state = read_state(found[-1]) if found else {}
    except CheckpointError:
        return None
    return state if is_import(state) else None


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


def restore_modules(ckpt: Path, modules: dict[str, nn.Module]) -> None:
    """Load each named module from its <name>.safetensors in checkpoint dir `ckpt` (checked as load_module does)."""
    for name, module in modules.items():
        load_module(module, read_tensors(ckpt, name), f"{ckpt}/{name}")


def restore_optimizers(ckpt: Path, optimizers: dict[str, torch.optim.Optimizer], state: dict) -> None:
    """Load each named optimiser from optim_<name>.safetensors and the metadata state.json keeps for it."""
    for name, opt in optimizers.items():
        load_optimizer(opt, read_tensors(ckpt, f"optim_{name}"), state["optimizers"][name])


def save_generator(path: Path, G: nn.Module, net_config: dict, extra_meta: dict | None = None) -> None:
    """A standalone generator file: weights plus the network config in the safetensors metadata."""
    tensors = module_tensors(G)
    _check_finite("generator", tensors)
    meta = {"format": GENERATOR_FORMAT, "net": json.dumps(net_config), **(extra_meta or {})}
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        save_file(tensors, str(tmp), metadata={k: str(v) for k, v in meta.items()})
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise CheckpointError(f"cannot write {path} ({e.strerror or e}); free disk space or choose another "
                              "path (an earlier file there is intact)") from e
