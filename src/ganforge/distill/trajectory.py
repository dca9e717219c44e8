"""Trajectory variation (SD-GAN Sec. 4.4, Table 3): how much the samples of fixed latents change between checkpoints.

Definition implemented (the paper gives it in words only): take the run's checkpoints whose training progress is at
least `start_fraction` (20%) of the last checkpoint's, oldest first, k = 0..K-1, and fixed latents z_1..z_N (N = 480
in the paper). For every latent and every pair of consecutive checkpoints, d_ik = LPIPS(G_k(z_i), G_k+1(z_i)) with
G_k the EMA generator of checkpoint k. Each latent's sequence has the average distance a_i = mean_k d_ik (the
quantity Fig. 7 sorts sequences by); reported are mean_i a_i and the sample standard deviation (ddof = 1) of a_i over
latents, plus the per-pair means mean_i d_ik for plotting.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ganforge.distill.self_distill import SelfDistillConfig, SelfDistiller, build_self_distiller
from ganforge.training import checkpoint as ckpt
from ganforge.training.load import load_generator

__all__ = ["TRAJECTORY_DISTANCES", "TrajectoryResult", "checkpoint_kimg", "image_distance", "save_evolution_strip",
           "select_checkpoints", "trajectory_variation", "write_json"]

TRAJECTORY_DISTANCES = ("lpips-vgg", "lpips-alex", "l1", "l2", "ms-ssim")


@dataclass
class TrajectoryResult:
    """mean/std over latents of each latent's average consecutive-checkpoint distance, and the curve behind it."""

    mean: float
    std: float
    pair_means: list[float]  # mean over latents of d_ik, one per consecutive pair
    kimg: list[float]  # progress of the checkpoints used, oldest first
    checkpoints: list[str]
    per_latent: list[float]  # a_i
    num: int
    distance: str
    generator: str  # "G_ema" or "G"
    seed: int  # of the latents (ganforge.metrics.sampling.eval_latents)

    def to_dict(self, per_latent: bool = False) -> dict:
        d = asdict(self)
        if not per_latent:
            d.pop("per_latent")
        return d


def checkpoint_kimg(path: Path) -> float:
    return ckpt.read_state(path)["cur_nimg"] / 1000


def select_checkpoints(run_dir: str | Path, start_fraction: float = 0.2) -> list[Path]:
    """The run's complete ckpt-* directories from `start_fraction` of the last one's kimg on, oldest first."""
    if not 0 <= start_fraction < 1:
        raise ValueError(f"start_fraction must be in [0, 1), got {start_fraction}")
    found = ckpt.list_checkpoints(Path(run_dir))
    if not found:
        raise ckpt.CheckpointError(f"{run_dir}: no ckpt-* checkpoints (is it a ganforge run directory?)")
    kimg = [checkpoint_kimg(p) for p in found]
    chosen = [p for p, k in zip(found, kimg) if k >= start_fraction * kimg[-1]]
    if len(chosen) < 2:
        raise ckpt.CheckpointError(
            f"{run_dir}: {len(chosen)} checkpoint(s) from {start_fraction:.0%} of the run on ({len(found)} in total); "
            "trajectory analysis needs at least 2. The trainer keeps only the last `keep_checkpoints` (default 3): "
            "train with keep_checkpoints=0 (keep all) and a snapshot_every_kimg giving ~10 checkpoints")
    return chosen


def image_distance(name: str, device: torch.device | str = "cpu", weights: str | None = None) -> SelfDistiller:
    """The un-augmented per-sample distance `name` between two image batches in [-1, 1] (LPIPS in FP32)."""
    if name not in TRAJECTORY_DISTANCES:
        raise ValueError(f"unknown distance {name!r}; choose one of {TRAJECTORY_DISTANCES}")
    cfg = SelfDistillConfig(distance=name, augment=False, lpips_precision="fp32")
    return build_self_distiller(cfg, device, weights=weights).eval()


@torch.no_grad()
def _samples(G: torch.nn.Module, z: torch.Tensor, c: torch.Tensor | None, batch_size: int,
             device: torch.device) -> torch.Tensor:
    out = []
    for i in range(0, len(z), batch_size):
        cc = None if c is None else c[i:i + batch_size].to(device)
        out.append(G(z[i:i + batch_size].to(device), cc).clamp(-1, 1))
    return torch.cat(out)


@torch.no_grad()
def trajectory_variation(run_dir: str | Path, num: int = 480, start_fraction: float = 0.2,
                         distance: str = "lpips-vgg", seed: int = 0, batch_size: int = 64,
                         device: torch.device | str = "cpu", ema: bool = True,
                         weights: str | None = None) -> TrajectoryResult:
    """SD-GAN Table 3 for one run: see the module docstring for the exact definition."""
    from ganforge.metrics.sampling import eval_latents

    if num < 2:
        raise ValueError(f"num must be at least 2 (a standard deviation over latents), got {num}")
    device = torch.device(device)
    chosen = select_checkpoints(run_dir, start_fraction)
    dist = image_distance(distance, device, weights)
    prev: torch.Tensor | None = None
    pairs: list[torch.Tensor] = []
    z = c = None
    for path in chosen:
        G = load_generator(path, device=device, ema=ema)
        if z is None:
            z, c = eval_latents(num, G.z_dim, G.num_classes, seed)
        cur = _samples(G, z, c, batch_size, device)
        if prev is not None:
            pairs.append(torch.cat([dist.per_sample(cur[i:i + batch_size], prev[i:i + batch_size]).float().cpu()
                                    for i in range(0, num, batch_size)]))
        prev = cur
    d = torch.stack(pairs)  # [K - 1, num]
    per_latent = d.mean(dim=0)
    return TrajectoryResult(mean=float(per_latent.mean()), std=float(per_latent.std()),
                            pair_means=[float(v) for v in d.mean(dim=1)],
                            kimg=[checkpoint_kimg(p) for p in chosen], checkpoints=[p.name for p in chosen],
                            per_latent=[float(v) for v in per_latent], num=num, distance=distance,
                            generator="G_ema" if ema else "G", seed=seed)


@torch.no_grad()
def save_evolution_strip(run_dir: str | Path, result: TrajectoryResult, path: str | Path, rows: int = 4,
                         device: torch.device | str = "cpu") -> list[int]:
    """Fig. 7: samples of the `rows` latents whose a_i is closest to the mean, one column per checkpoint.
    Returns the latent indices shown (row order)."""
    from ganforge.data import to_uint8
    from ganforge.metrics.sampling import eval_latents
    from ganforge.utils.grid import save_grid

    a = torch.tensor(result.per_latent)
    picked = (a - result.mean).abs().argsort()[:rows].tolist()
    device = torch.device(device)
    columns = []
    for name in result.checkpoints:
        G = load_generator(Path(run_dir) / name, device=device, ema=result.generator == "G_ema")
        z, c = eval_latents(result.num, G.z_dim, G.num_classes, result.seed)
        cc = None if c is None else c[picked].to(device)
        columns.append(to_uint8(G(z[picked].to(device), cc)).cpu())
    images = torch.stack(columns, dim=1).flatten(0, 1)  # row = latent, column = checkpoint
    save_grid(images, path, nrow=len(columns))
    return picked


def write_json(result: TrajectoryResult, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(result.to_dict(per_latent=True), indent=1))
