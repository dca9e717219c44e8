"""Reference features and statistics cached in memory and on disk, keyed by data, extractor and count.

On disk each entry is one .npz (never pickled) holding the extractor outputs ("features", "digits", ...) and,
for "features", `mu` and `sigma` in float64: the file layout pytorch-fid and clean-fid use for their statistics,
so a ganforge cache file is also a valid pytorch-fid stats file and vice versa (for FID).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ganforge.metrics.fid import GaussianStats
from ganforge.metrics.neighbors import knn_sq_radii

ENV_CACHE = "GANFORGE_CACHE_DIR"


def default_cache_dir() -> Path:
    """$GANFORGE_CACHE_DIR, else ~/.cache/ganforge/metrics."""
    return Path(os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "ganforge" / "metrics")


def cache_key(data_identity: str, extractor_identity: str, count: int) -> str:
    """File-system-safe key: readable prefix plus a hash of the full identity."""
    full = f"{data_identity}|{extractor_identity}|n{count}"
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{extractor_identity}-n{count}")[:80]
    return f"{readable}-{hashlib.sha256(full.encode()).hexdigest()[:16]}"


def tensor_identity(images: torch.Tensor) -> str:
    """Content hash of an image tensor, for reference sets given as raw tensors."""
    h = hashlib.sha256(f"{tuple(images.shape)}|{images.dtype}".encode())
    h.update(images.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def save_stats_npz(path: str | os.PathLike, stats: GaussianStats, **extra: np.ndarray) -> None:
    """Write mu/sigma (pytorch-fid / clean-fid layout), plus optional extra arrays, atomically."""
    arrays = {"mu": stats.mu.numpy(), "sigma": stats.sigma.numpy(), **extra}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def load_stats_npz(path: str | os.PathLike) -> GaussianStats:
    """Read mu/sigma from a pytorch-fid, clean-fid or ganforge .npz file."""
    with np.load(path, allow_pickle=False) as f:
        if "mu" not in f or "sigma" not in f:
            raise ValueError(f"{path} has no 'mu'/'sigma' arrays (keys: {sorted(f.files)})")
        return GaussianStats(torch.from_numpy(f["mu"]), torch.from_numpy(f["sigma"]))


@dataclass
class FeatureSet:
    """One extractor's outputs on one image set, with FID statistics and k-NN radii computed once."""

    arrays: dict[str, torch.Tensor]
    _stats: GaussianStats | None = field(default=None, repr=False)
    _radii: dict[int, torch.Tensor] = field(default_factory=dict, repr=False)
    kid_terms: dict = field(default_factory=dict, repr=False)  # per-subset real-real KID sums (kid.py)

    @property
    def features(self) -> torch.Tensor:
        return self.arrays["features"]

    def stats(self) -> GaussianStats:
        if self._stats is None:
            self._stats = GaussianStats.from_features(self.features)
        return self._stats

    def radii(self, ks: tuple[int, ...]) -> dict[int, torch.Tensor]:
        missing = tuple(k for k in ks if k not in self._radii)
        if missing:
            self._radii.update(knn_sq_radii(self.features, missing))
        return {k: self._radii[k] for k in ks}


class FeatureCache:
    """Memory-then-disk cache of reference FeatureSets (the disk part is optional)."""

    def __init__(self, directory: str | os.PathLike | None = None, use_disk: bool = True) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.use_disk = use_disk
        self.memory: dict[str, FeatureSet] = {}

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.npz"

    def get(self, key: str) -> FeatureSet | None:
        if key in self.memory:
            return self.memory[key]
        if not self.use_disk or not self.path(key).is_file():
            return None
        with np.load(self.path(key), allow_pickle=False) as f:
            arrays = {name: torch.from_numpy(f[name]) for name in f.files if name not in ("mu", "sigma")}
            stats = GaussianStats(torch.from_numpy(f["mu"]), torch.from_numpy(f["sigma"]), len(arrays["features"]))
        entry = FeatureSet(arrays, stats)
        self.memory[key] = entry
        return entry

    def put(self, key: str, entry: FeatureSet) -> None:
        self.memory[key] = entry
        if self.use_disk:
            extra = {name: value.numpy() for name, value in entry.arrays.items()}
            save_stats_npz(self.path(key), entry.stats(), **extra)
