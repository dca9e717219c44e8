"""Feature passes split across torch.distributed ranks: each rank embeds a contiguous shard, features are gathered.

Every rank must make the same calls in the same order (they are collectives). Gathering concatenates the shards in
rank order, so the gathered features are in sample order, as in a single-process pass.
"""

from __future__ import annotations

import json

import torch
import torch.distributed as dist

from ganforge.utils.distributed import comm_device, world

Features = dict[str, dict[str, torch.Tensor]]


def shard_bounds(num: int, rank: int, world_size: int) -> tuple[int, int]:
    """[start, stop) of rank's contiguous share of `num` items; shares differ in size by at most one."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside a world of size {world_size}")
    return num * rank // world_size, num * (rank + 1) // world_size


def gather_rows(x: torch.Tensor) -> torch.Tensor:
    """Concatenate every rank's [n_r, ...] tensor along dim 0 in rank order (n_r may differ); result on CPU."""
    _, size = world()
    if size == 1:
        return x
    dev = comm_device()
    x = x.to(dev).contiguous()
    counts = [torch.zeros(1, dtype=torch.int64, device=dev) for _ in range(size)]
    dist.all_gather(counts, torch.tensor([x.shape[0]], dtype=torch.int64, device=dev))
    longest = int(max(int(c) for c in counts))
    padded = x.new_zeros((longest, *x.shape[1:]))
    padded[:x.shape[0]] = x
    parts = [torch.empty_like(padded) for _ in range(size)]
    dist.all_gather(parts, padded)
    return torch.cat([p[:int(c)] for p, c in zip(parts, counts, strict=True)]).cpu()


def gather_features(features: Features) -> Features:
    """gather_rows for every extractor output; all ranks must hold the same keys."""
    return {key: {name: gather_rows(t) for name, t in sorted(out.items())} for key, out in sorted(features.items())}


def any_rank(flag: bool) -> bool:
    """True on every rank when `flag` is true on at least one (so all ranks take the same branch)."""
    _, size = world()
    if size == 1:
        return flag
    t = torch.tensor([int(flag)], device=comm_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def broadcast_json(obj: object, src: int = 0) -> object:
    """`obj` from rank `src` on every rank, sent as JSON bytes (plain data only, nothing is unpickled)."""
    rank, size = world()
    if size == 1:
        return obj
    dev = comm_device()
    data = json.dumps(obj).encode() if rank == src else b""
    length = torch.tensor([len(data)], dtype=torch.int64, device=dev)
    dist.broadcast(length, src)
    buf = torch.zeros(int(length.item()), dtype=torch.uint8, device=dev)
    if rank == src:
        buf.copy_(torch.frombuffer(bytearray(data), dtype=torch.uint8))
    dist.broadcast(buf, src)
    return json.loads(buf.cpu().numpy().tobytes().decode())
