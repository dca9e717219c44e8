"""Read a third-party weights file (safetensors, or a tensors-only torch.load) into a plain state dict on the CPU."""

from __future__ import annotations

from pathlib import Path

import torch


def read_state_dict(path: str | Path, unwrap: tuple[str, ...] = ("state_dict",)) -> dict[str, torch.Tensor]:
    """The tensors of `path`; a torch file is loaded with weights_only=True (never unpickling code), and checkpoints
    that nest the weights under one of the `unwrap` keys (in that order) are opened up. ValueError if no dict."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    for key in unwrap:
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, found {type(state).__name__}")
    return state


__all__ = ["read_state_dict"]
