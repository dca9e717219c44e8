"""Super-resolution training pairs made on the fly: random HR crops of photos, and LR inputs synthesised from them.

HR images come from a folder (or zip) of photos of any sizes, or from the built-in `photos`: real photographs that
ship inside scikit-learn and matplotlib, so SR training works offline (sources and licences: docs/super_resolution.md,
"Training data"). `SRPairSampler` cuts random crops, flips them, and degrades them with ganforge.data.degradation;
with `pool_size`, Real-ESRGAN's training pair pool (ganforge.data.sr_pool) mixes its batches. Its state is (seed,
step) and the pool's (step, index) origins, so a run resumes on exactly the batches it would have drawn.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from ganforge.data.dataset import DatasetError
from ganforge.data.degradation import DegradationConfig, degrade, usm_sharpen
from ganforge.data.images import IMAGE_EXTENSIONS, ImageSource, decode_image
from ganforge.data.sr_pool import Pair, PairPool
from ganforge.limits import hint, limit

# name -> (package, file inside the installed package); all three packages are ganforge dependencies
BUILTIN_HR: dict[str, tuple[tuple[str, str], ...]] = {
    "photos": (
        ("sklearn", "datasets/images/china.jpg"),  # 640x427, CC BY 2.0 (scikit-learn's images/README.txt)
        ("sklearn", "datasets/images/flower.jpg"),  # 640x427, CC BY 2.0 (same README)
        ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),  # 512x600, public domain (matplotlib PR #1599)
    ),
}
_PIP_NAME = {"sklearn": "scikit-learn", "matplotlib": "matplotlib"}


@dataclass
class HRImages:
    """HR photos decoded once into memory: uint8 RGB tensors [3, H, W] whose sizes may differ."""

    images: list[torch.Tensor]
    files: list[str]
    name: str
    source: str

    def __len__(self) -> int:
        """The number of photos."""
        return len(self.images)

    @property
    def min_side(self) -> int:
        """The shortest side over all images: the largest square crop every image allows."""
        return min(min(t.shape[-2:]) for t in self.images)


def _package_file(package: str, rel: str) -> Path:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    roots = list(spec.submodule_search_locations or []) if spec is not None else []
    path = Path(roots[0]) / rel if roots else None
    if path is None or not path.is_file():
        raise DatasetError(f"built-in HR photos: {package}/{rel} not found; install the package that ships it "
                           f"(pip install {_PIP_NAME.get(package, package)}) or give a folder of HR photos")
    return path


def _to_rgb_tensor(arr: np.ndarray) -> torch.Tensor:
    """uint8 HWC with 1 or 3 channels -> uint8 [3, H, W] (grey repeated)."""
    t = torch.from_numpy(np.array(arr, dtype=np.uint8, copy=True)).permute(2, 0, 1)
    return t.expand(3, -1, -1).contiguous() if t.shape[0] == 1 else t.contiguous()


def builtin_photos(name: str = "photos") -> HRImages:
    """The real photographs of the built-in HR source `name`, read from the installed packages that ship them."""
    if name not in BUILTIN_HR:
        raise DatasetError(f"'{name}' is not a built-in HR source (built-in: {', '.join(BUILTIN_HR)})")
    paths = [_package_file(pkg, rel) for pkg, rel in BUILTIN_HR[name]]
    images = [_to_rgb_tensor(decode_image(p.read_bytes(), str(p))) for p in paths]
    files = [f"{pkg}/{rel}" for pkg, rel in BUILTIN_HR[name]]
    return HRImages(images, files, name, "packages: " + ", ".join(sorted({pkg for pkg, _ in BUILTIN_HR[name]})))


def _headers(src: ImageSource, files: list[str], crop: int, skip_small: bool) -> list[str]:
    """Image sizes from the headers alone: refuse (or with skip_small drop) images under the crop, and refuse a
    folder whose decoded size exceeds the memory limit, before any pixel is decoded."""
    sizes = {f: src.header(f)[:2] for f in files}
    small = [f for f in files if min(sizes[f]) < crop]
    kept = [f for f in files if f not in set(small)]
    if small and (not skip_small or not kept):
        w, h = sizes[small[0]]
        what = "every image" if not kept else f"{len(small)} of {len(files)} images"
        raise DatasetError(f"{src.path}: {what} smaller than the {crop}x{crop} HR crop, e.g. {small[0]} ({w}x{h}); "
                           f"use a smaller crop (at most {max(min(s) for s in sizes.values())}, a multiple of the "
                           "scale)" + (", or skip_small=True to leave those images out" if kept else "") +
                           ", or add larger photos")
    need = sum(3 * sizes[f][0] * sizes[f][1] for f in kept)
    if need > limit("MAX_DATASET_BYTES"):
        raise DatasetError(f"{src.path}: {len(kept)} images need {need / 2**30:.1f} GiB decoded; use fewer or smaller "
                           f"photos, or {hint('MAX_DATASET_BYTES')}")
    return kept


def load_hr_images(spec: str | Path = "photos", crop: int = 0, skip_small: bool = False) -> HRImages:
    """HR photos from a built-in name ("photos") or a folder / zip of images (searched recursively).

    Every image must be at least `crop` pixels on its shorter side (checked from the headers before decoding);
    skip_small leaves smaller ones out instead of failing. Grey images become RGB, alpha is composited over white.
    """
    if isinstance(spec, str) and spec in BUILTIN_HR:
        hr = builtin_photos(spec)
        if crop > hr.min_side:
            raise DatasetError(f"built-in '{spec}': the crop {crop} is larger than its smallest photo side "
                               f"{hr.min_side}; use a crop of at most {hr.min_side} or give a folder of larger photos")
        return hr
    path = Path(spec)
    if not path.exists():
        raise DatasetError(f"{path}: no such folder; give a folder of HR photos (png, jpg, ...) or the built-in "
                           f"source name ({', '.join(BUILTIN_HR)})")
    src = ImageSource(path)
    try:
        files = [f for f in src.names() if PurePosixPath(f).suffix.lower() in IMAGE_EXTENSIONS]
        if not files:
            raise DatasetError(f"{path}: no images found (looked for {', '.join(sorted(IMAGE_EXTENSIONS))}); put HR "
                               f"photos in it, or use the built-in source ({', '.join(BUILTIN_HR)})")
        files = _headers(src, files, crop, skip_small)
        images = [_to_rgb_tensor(decode_image(src.read(f), f"{path}/{f}")) for f in files]
    finally:
        src.close()
    return HRImages(images, files, path.stem, str(path.resolve()))


def _check_int(name: str, v: int, lo: int) -> None:
    """Refuse a sampler setting that is not an integer >= lo."""
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise DatasetError(f"SRPairSampler: {name} must be an integer >= {lo}, got {v!r}")


class SRPairSampler:
    """(LR, HR) float batches in [0, 1]: random crop x crop HR patches (uniformly chosen images, random position,
    horizontal flip with probability 1/2 if hflip) and their LR inputs of side crop / scale from `degradation`, applied
    to the unsharp-masked crop if `usm` (Real-ESRGAN degrades gt_usm; the HR returned is the plain crop).

    Batch `step` on `rank` draws everything from a generator seeded by (seed, step, rank), so the state is
    {seed, step} and a resumed run sees the same batches; ranks draw different crops. pool_size > 0 passes the
    batches through a PairPool of that many pairs (a multiple of batch_size), whose origins join the state.
    """

    def __init__(self, images: HRImages, crop: int = 256, scale: int = 4, batch_size: int = 12, seed: int = 0,
                 degradation: DegradationConfig | None = None, hflip: bool = True, rank: int = 0,
                 world_size: int = 1, usm: bool = False, pool_size: int = 0):
        _check_int("crop", crop, 1)
        _check_int("scale", scale, 1)
        _check_int("batch_size", batch_size, 1)
        _check_int("pool_size", pool_size, 0)
        if crop % scale:
            raise DatasetError(f"SRPairSampler: the HR crop {crop} is not a multiple of the scale {scale}; use "
                               f"{crop - crop % scale or scale}")
        if not 0 <= rank < world_size:
            raise DatasetError(f"SRPairSampler: rank {rank} is outside 0..{world_size - 1}")
        if crop > images.min_side:
            small = min(range(len(images)), key=lambda i: min(images.images[i].shape[-2:]))
            h, w = images.images[small].shape[-2:]
            raise DatasetError(f"{images.name}: {images.files[small]} is {w}x{h}, smaller than the {crop}x{crop} HR "
                               f"crop; use a crop of at most {images.min_side} or load with skip_small=True")
        self.images, self.crop, self.scale, self.batch_size = images, crop, scale, batch_size
        self.seed, self.hflip, self.rank, self.usm = seed, hflip, rank, usm
        self.degradation = degradation or DegradationConfig()
        self.pool = PairPool(pool_size, batch_size, seed) if pool_size else None
        self.step = 0

    def _generator(self, step: int) -> torch.Generator:
        digest = hashlib.sha256(f"sr-pairs:{self.seed}:{step}:{self.rank}".encode()).digest()
        return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & (2**63 - 1))

    def _crops(self, g: torch.Generator) -> torch.Tensor:
        """uint8 [batch, 3, crop, crop] HR patches."""
        c = self.crop
        out = torch.empty(self.batch_size, 3, c, c, dtype=torch.uint8)
        for j, i in enumerate(torch.randint(len(self.images), (self.batch_size,), generator=g).tolist()):
            img = self.images.images[i]
            h, w = img.shape[-2:]
            top = int(torch.randint(h - c + 1, (), generator=g))
            left = int(torch.randint(w - c + 1, (), generator=g))
            patch = img[:, top:top + c, left:left + c]
            out[j] = patch.flip(-1) if self.hflip and bool(torch.rand((), generator=g) < 0.5) else patch
        return out

    def draw(self, step: int, device: torch.device | str = "cpu") -> Pair:
        """Batch `step`'s fresh (LR, HR) pair, before the pool: HR crops, LR degraded from them (or from their USM)."""
        g = self._generator(step)
        hr = self._crops(g).to(device).float() / 255.0
        lr = degrade(usm_sharpen(hr) if self.usm else hr, self.scale, g, self.degradation)
        return lr, hr

    def next(self, device: torch.device | str = "cpu") -> Pair:
        """The next (LR [B, 3, crop / scale, crop / scale], HR [B, 3, crop, crop]) pair of float batches on device."""
        lr, hr = self.draw(self.step, device)
        if self.pool is not None:
            lr, hr = self.pool.swap(lr, hr, self.step, lambda s: self.draw(s, device))
        self.step += 1
        return lr, hr

    def state_dict(self) -> dict:
        """The whole sampler state, for checkpoints: JSON-ready (the pool as its pairs' origins)."""
        pool = {"pool": self.pool.state_dict()} if self.pool is not None else {}
        return {"seed": self.seed, "step": self.step, **pool}

    def load_state_dict(self, state: dict) -> None:
        """Resume from state_dict(): the next batch is the one the saved sampler would have drawn. A state without a
        pool (pool_size was 0, or a checkpoint from before the pool) starts the pool empty."""
        self.seed, self.step = int(state["seed"]), int(state["step"])
        if self.pool is not None:
            self.pool.seed = self.seed
            self.pool.load_state_dict(state.get("pool") or [], self.step)
