"""Teacher "global features" for DiME's global mode (NICKEL & DiME Sec. 3.1, 4.5): the mean and second moment of
phi(G_T(z)) over many samples (20,000 in the paper), computed once, saved as safetensors, reused by every run.

The file records which teacher (a digest of its weights), which embedders (their identities), how many samples
and which seed produced it; `load_teacher_stats` refuses a file that does not match.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from ganforge.compress.embeddings import Embedder

STATS_FORMAT = "ganforge-teacher-stats-v1"
STATS_FILE = "teacher_stats.safetensors"  # the default file name in the student run directory


class TeacherStatsError(ValueError):
    """A teacher-statistics file that is missing pieces or belongs to another teacher/embedder."""


def teacher_digest(G: nn.Module) -> str:
    """SHA-256 over the teacher's state dict (names, shapes and bytes), short form."""
    h = hashlib.sha256()
    for k, v in sorted(G.state_dict().items()):
        h.update(k.encode())
        h.update(str(tuple(v.shape)).encode())
        h.update(v.detach().cpu().contiguous().float().numpy().tobytes())
    return h.hexdigest()[:16]


@torch.no_grad()
def compute_teacher_stats(G: nn.Module, embedders: dict[str, Embedder], num: int = 20_000, batch_size: int = 256,
                          seed: int = 0, device: torch.device | str | None = None,
                          ) -> dict[str, dict[str, torch.Tensor]]:
    """{name: {"mean": E[phi], "m2": E[phi^2]}} over `num` teacher samples (z, labels from `seed`), in float64."""
    from ganforge.metrics.sampling import eval_latents

    p = next(G.parameters())
    device = torch.device(device) if device is not None else p.device
    z_all, c_all = eval_latents(num, G.z_dim, int(getattr(G, "num_classes", 0) or 0), seed)
    sums = {n: None for n in embedders}
    sq = {n: None for n in embedders}
    was_training = G.training
    G.eval()
    for start in range(0, num, batch_size):
        z = z_all[start:start + batch_size].to(device)
        c = None if c_all is None else c_all[start:start + batch_size].to(device)
        images = G(z, c)
        for name, phi in embedders.items():
            f = phi(images).double()
            sums[name] = f.sum(0) if sums[name] is None else sums[name] + f.sum(0)
            sq[name] = f.square().sum(0) if sq[name] is None else sq[name] + f.square().sum(0)
    G.train(was_training)
    return {n: {"mean": (sums[n] / num).cpu(), "m2": (sq[n] / num).cpu()} for n in embedders}


def save_teacher_stats(path: str | Path, stats: dict[str, dict[str, torch.Tensor]], meta: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {f"{name}.{k}": v.contiguous() for name, d in stats.items() for k, v in d.items()}
    save_file(tensors, str(path), metadata={"format": STATS_FORMAT, "meta": json.dumps(meta)})
    return path


def read_teacher_stats(path: str | Path) -> tuple[dict[str, dict[str, torch.Tensor]], dict]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"teacher statistics {path} not found; create them with "
                                "`ganforge distill teacher-stats TEACHER --embed NAME --out FILE`")
    with safe_open(str(path), framework="pt") as f:
        md = f.metadata() or {}
        if md.get("format") != STATS_FORMAT:
            raise TeacherStatsError(f"{path} is not a ganforge teacher-statistics file")
        stats: dict[str, dict[str, torch.Tensor]] = {}
        names = f.keys()
        for key in names:
            name, _, part = key.rpartition(".")
            stats.setdefault(name, {})[part] = f.get_tensor(key)
    return stats, json.loads(md["meta"])


def load_teacher_stats(path: str | Path, G: nn.Module, embedders: dict[str, Embedder],
                       min_num: int = 0) -> dict[str, dict[str, torch.Tensor]]:
    """Statistics for exactly this teacher and these embedders, else TeacherStatsError naming the mismatch."""
    stats, meta = read_teacher_stats(path)
    if meta.get("teacher") != teacher_digest(G):
        raise TeacherStatsError(f"{path} was computed for another teacher ({meta.get('teacher')}, this one is "
                                f"{teacher_digest(G)}); recompute with `ganforge distill teacher-stats`")
    for name, phi in embedders.items():
        have = meta.get("embedders", {}).get(name)
        if have != phi.identity or name not in stats:
            raise TeacherStatsError(f"{path} has no statistics for embedder {name} = {phi.identity} (it has "
                                    f"{meta.get('embedders')}); recompute with `ganforge distill teacher-stats`")
    if meta.get("num", 0) < min_num:
        raise TeacherStatsError(f"{path} holds {meta.get('num')} samples, fewer than the {min_num} asked for")
    return {n: stats[n] for n in embedders}


def teacher_stats_for(G: nn.Module, embedders: dict[str, Embedder], path: str | Path, num: int = 20_000,
                      batch_size: int = 256, seed: int = 0, device: torch.device | str | None = None,
                      ) -> tuple[dict[str, dict[str, torch.Tensor]], bool]:
    """Reuse matching statistics at `path`, else compute and write them there. Returns (stats, reused)."""
    try:
        return load_teacher_stats(path, G, embedders, min_num=num), True
    except (FileNotFoundError, TeacherStatsError):
        pass
    stats = compute_teacher_stats(G, embedders, num, batch_size, seed, device)
    meta = {"teacher": teacher_digest(G), "embedders": {n: e.identity for n, e in embedders.items()}, "num": num,
            "seed": seed}
    save_teacher_stats(path, stats, meta)
    return stats, False


__all__ = ["STATS_FILE", "STATS_FORMAT", "TeacherStatsError", "compute_teacher_stats", "load_teacher_stats",
           "read_teacher_stats", "save_teacher_stats", "teacher_digest", "teacher_stats_for"]
